/**
 * Request priorities for overload protection. A route has one (`priority: critical |
 * normal | low`, default `normal`); when the operator names a header
 * (`overload.priorityHeader`), a request may carry its own, which then wins. Only turn
 * that on where the header is set by something trusted (an edge proxy, internal callers):
 * any client could otherwise call itself critical.
 *
 * Under overload, `low` is shed first, then `normal`; `critical` only past the second,
 * higher threshold. In a route's queue, `critical` waiters are served first.
 */
import { PRIORITY_NAMES, type PriorityName } from './schema.js';

/** Numeric so that comparisons are cheap: higher is more important. */
export const Priority = { Low: 0, Normal: 1, Critical: 2 } as const;
export type Priority = (typeof Priority)[keyof typeof Priority];

/** `critical` → 2; anything else (case-insensitive, surrounding spaces ignored) → null. */
export function parsePriority(value: string): Priority | null {
  switch (value.trim().toLowerCase()) {
    case 'low':
      return Priority.Low;
    case 'normal':
      return Priority.Normal;
    case 'critical':
      return Priority.Critical;
    default:
      return null;
  }
}

/** The priority of a config name; `normal` for anything else. */
export function priorityOf(name: PriorityName): Priority {
  return name === 'critical' ? Priority.Critical : name === 'low' ? Priority.Low : Priority.Normal;
}

export function priorityName(p: Priority): PriorityName {
  return PRIORITY_NAMES[p]!;
}

/**
 * The priority of a request: the header's when `headerName` (lower-case) is set and the
 * request carries a valid value, else the route's. Scans the raw headers without
 * building a header object.
 *
 * @example
 * requestPriority(['X-Brisk-Priority', 'critical'], Priority.Normal, 'x-brisk-priority') // Priority.Critical
 */
export function requestPriority(rawHeaders: readonly string[], routePriority: Priority, headerName: string | null): Priority {
  if (headerName === null) return routePriority;
  const len = headerName.length;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === len && name.toLowerCase() === headerName) {
      const p = parsePriority(rawHeaders[i + 1]!);
      return p === null ? routePriority : p;
    }
  }
  return routePriority;
}
