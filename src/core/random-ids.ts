import { randomFillSync } from 'node:crypto';

/**
 * Random ids from a pooled buffer: one `randomFillSync` (a CSPRNG, so ids cannot be
 * guessed or collide in practice) and one hex conversion per 4 KiB, i.e. per ~60
 * requests that each take a request id, a trace id and a span id; an id is then slices of
 * that hex string. Calling into crypto (or even `Buffer#toString`) per id costs several
 * times more — `crypto.randomUUID` refills its own 2 KiB cache and formats byte by byte.
 * `Math.random` would be cheaper still, but its xorshift state leaks from a few outputs
 * and its 52 bits would make 128-bit ids a lie.
 */
const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let hexPool = '';
let hexOffset = 0;

/** `chars` random lower-case hex characters (an even count up to 8192). */
export function randomHex(chars: number): string {
  if (hexOffset + chars > hexPool.length) refill();
  const at = hexOffset;
  hexOffset += chars;
  return hexPool.slice(at, at + chars);
}

function refill(): void {
  randomFillSync(pool);
  hexPool = pool.toString('hex');
  hexOffset = 0;
}

/**
 * A random UUID (RFC 9562 version 4, `xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx` with V one of
 * 8, 9, a, b): 122 random bits like `crypto.randomUUID()`, from the pool above.
 */
export function randomUuid(): string {
  if (hexOffset + 32 > hexPool.length) refill();
  const h = hexPool;
  const at = hexOffset;
  hexOffset += 32;
  // The variant's two high bits are 10: the random nibble's low two bits pick 8, 9, a or b.
  const c = h.charCodeAt(at + 16);
  const variant = VARIANTS[(c <= 57 ? c - 48 : c - 87) & 3]!;
  return `${h.slice(at, at + 8)}-${h.slice(at + 8, at + 12)}-4${h.slice(at + 13, at + 16)}-${variant}${h.slice(at + 17, at + 20)}-${h.slice(at + 20, at + 32)}`;
}

const VARIANTS = '89ab';
