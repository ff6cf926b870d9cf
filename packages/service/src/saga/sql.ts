/**
 * The tables of sagas, their outbox and the participants' applied keys. Created with
 * `if not exists` by `init()`, in a schema of the caller's choice (default `brisk`).
 */
import { ServiceError } from '../errors.js';

/** Checks a schema name before it is put into SQL (it cannot be a bind parameter). */
export function schemaName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new ServiceError('BRISK_SVC_DB_CONFIG_INVALID', `schema name "${name}" is not a lowercase SQL identifier (letters, digits, _; at most 63)`);
  return name;
}

export function orchestratorTables(schema: string): string {
  return `
create schema if not exists ${schema};
create table if not exists ${schema}.sagas (
  id text primary key,
  definition text not null,
  state text not null,
  step integer not null default 0,
  step_status text not null default 'todo',
  attempts integer not null default 0,
  input jsonb not null,
  results jsonb not null default '{}'::jsonb,
  error text,
  lease_owner text,
  lease_until timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists sagas_open on ${schema}.sagas (lease_until) where state in ('pending', 'running', 'compensating');
${outboxTable(schema)}`;
}

export function outboxTable(schema: string): string {
  return `
create schema if not exists ${schema};
create table if not exists ${schema}.outbox (
  id bigserial primary key,
  topic text not null,
  key text,
  payload jsonb not null,
  created_at timestamptz not null default now(),
  published_at timestamptz
);
create index if not exists outbox_unpublished on ${schema}.outbox (id) where published_at is null;`;
}

export function appliedKeysTable(schema: string): string {
  return `
create schema if not exists ${schema};
create table if not exists ${schema}.applied_keys (
  key text primary key,
  outcome text not null,
  result jsonb,
  applied_at timestamptz not null default now()
);`;
}
