/**
 * The users service: sign-up, sign-in with a JWT that Brisk verifies (HS256 with the
 * shared secret `SHOP_JWT_SECRET`; Brisk passes the subject on as `x-user-id`), the
 * signed-in shopper's profile, and a profile lookup for the other services.
 *
 * Passwords are stored as scrypt hashes (node:crypto), compared in constant time.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { json, type Service } from '@brisk/service';
import { SignJWT } from 'jose';
import { openApp, type AppOptions } from '../common/app.js';
import { ShopError } from '../common/errors.js';
import { bodyOf, created, handle, notFound, text, userOf } from '../common/http.js';

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

export interface UsersOptions extends AppOptions {
  /** HS256 secret shared with Brisk (default `$SHOP_JWT_SECRET`); at least 32 bytes. */
  jwtSecret?: string | undefined;
  /** Token lifetime (default 12 h). */
  tokenTtlS?: number;
}

/** The issuer and audience Brisk's `auth.jwt` checks (brisk.yaml). */
export const JWT_ISSUER = 'brisk-shop';
export const JWT_AUDIENCE = 'shop';

/** The demo account the tour signs in with. */
export const DEMO_USER = { email: 'demo@shop.test', name: 'Demo Shopper', password: 'demo-password' };

const SCHEMA = `
create table if not exists users (
  id bigserial primary key,
  email text not null unique,
  name text not null,
  password_hash text not null,
  created_at timestamptz not null default now()
)`;

type UserRow = {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  created_at: string;
};

const publicUser = (row: UserRow) => ({ id: String(row.id), email: row.email, name: row.name, createdAt: row.created_at });

async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32);
  return `scrypt:${salt.toString('base64')}:${hash.toString('base64')}`;
}

async function passwordMatches(password: string, stored: string): Promise<boolean> {
  const [kind, salt, hash] = stored.split(':');
  if (kind !== 'scrypt' || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), expected.length);
  return timingSafeEqual(actual, expected);
}

export async function startUsers(options: UsersOptions = {}): Promise<Service> {
  const secretText = options.jwtSecret ?? process.env['SHOP_JWT_SECRET'] ?? '';
  if (Buffer.byteLength(secretText) < 32) throw new Error('users: SHOP_JWT_SECRET must be at least 32 bytes (the HS256 key shared with Brisk)');
  const secret = new TextEncoder().encode(secretText);
  const ttl = options.tokenTtlS ?? 12 * 3600;
  const { db, cache, service } = await openApp('users', options, 30_000);
  await db.migrate(SCHEMA);
  // The demo account: a known password hashed like any other.
  await db.write('insert into users (email, name, password_hash) values ($1, $2, $3) on conflict (email) do nothing', [DEMO_USER.email, DEMO_USER.name, await hashPassword(DEMO_USER.password)], { idempotent: true });

  const token = (row: UserRow) =>
    new SignJWT({ name: row.name, email: row.email })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(String(row.id))
      .setIssuer(JWT_ISSUER)
      .setAudience(JWT_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${ttl}s`)
      .sign(secret);

  const byId = (id: string) =>
    cache.get(`user:${id}`, async () => {
      const { rows } = await db.read<UserRow>('select * from users where id = $1', [id]);
      return rows[0] === undefined ? null : publicUser(rows[0]);
    });

  service
    .route(
      'POST',
      '/api/users',
      handle(async (ctx) => {
        const body = await bodyOf(ctx);
        const email = text(body['email'], 'email', 200).toLowerCase();
        if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new ShopError('SHOP_BAD_INPUT', 'email must look like name@example.com');
        const name = text(body['name'], 'name', 100);
        const password = text(body['password'], 'password', 200);
        if (password.length < 8) throw new ShopError('SHOP_BAD_INPUT', 'password must have at least 8 characters');
        const { rows } = await db.write<UserRow>('insert into users (email, name, password_hash) values ($1, $2, $3) on conflict (email) do nothing returning *', [email, name, await hashPassword(password)]);
        if (rows[0] === undefined) throw new ShopError('SHOP_EMAIL_TAKEN', `an account with ${email} exists already; sign in instead`);
        return created({ user: publicUser(rows[0]), token: await token(rows[0]) });
      }),
    )
    .route(
      'POST',
      '/api/login',
      handle(async (ctx) => {
        const body = await bodyOf(ctx);
        const email = text(body['email'], 'email', 200).toLowerCase();
        const password = text(body['password'], 'password', 200);
        // A replica within the lag bound will do (sign-up already answered with a token), so
        // sign-in keeps working while the primary fails over.
        const { rows } = await db.read<UserRow>('select * from users where email = $1', [email]);
        const row = rows[0];
        if (row === undefined || !(await passwordMatches(password, row.password_hash))) throw new ShopError('SHOP_LOGIN_FAILED', 'no account with this e-mail and password');
        return { user: publicUser(row), token: await token(row), expiresInS: ttl };
      }),
    )
    .route(
      'GET',
      '/api/me',
      handle(async (ctx) => {
        const user = await byId(userOf(ctx));
        if (user === null) throw notFound('user');
        return user;
      }),
    )
    .route(
      'GET',
      '/internal/users/:id',
      handle(async (ctx) => {
        if (!/^\d{1,18}$/.test(ctx.params['id'] ?? '')) throw notFound('user');
        const user = await byId(ctx.params['id']!);
        return user ?? json(404, { error: { code: 'SHOP_NOT_FOUND', message: 'no such user', requestId: ctx.requestId } });
      }),
    );
  return service.start();
}
