/**
 * The route key `compression`: which encodings Brisk may use for the responses of a route
 * (or, under `defaults`, of every route), for which content types and from which size.
 * See docs/compression.md for what is never compressed and why.
 */
import { createRequire } from 'node:module';
import { Type, type Static } from '../../config/type-builder.js';
import type { Normalized } from '../../config/normalize-kit.js';
import type { PathProblem } from '../../config/positions.js';
import { Size, Strict } from '../../config/schema-kit.js';
import { sizeBytes } from '../../config/units.js';

/** The content codings Brisk can produce. */
export const ENCODINGS = ['zstd', 'br', 'gzip'] as const;
export type Encoding = (typeof ENCODINGS)[number];

/** Whether this Node.js has zstd in node:zlib (22.15+ and 23.8+; not 20). */
export function zstdAvailable(): boolean {
  // node:zlib is required here, when a compression block is read, not when the module
  // loads: a config without compression never loads it.
  return typeof (createRequire(import.meta.url)('node:zlib') as { createZstdCompress?: unknown }).createZstdCompress === 'function';
}

/**
 * Types worth compressing: text, JSON, XML, JavaScript, SVG, WebAssembly and uncompressed
 * fonts. Images, audio, video, archives and woff2 are compressed already. Event streams
 * are left out by default (see docs/compression.md).
 */
export const DEFAULT_TYPES: readonly string[] = [
  'text/html',
  'text/plain',
  'text/css',
  'text/csv',
  'text/xml',
  'text/markdown',
  'text/javascript',
  'application/javascript',
  'application/json',
  'application/*+json',
  'application/x-ndjson',
  'application/xml',
  'application/*+xml',
  'application/wasm',
  'image/svg+xml',
  'font/ttf',
  'font/otf',
];

/** `type/subtype`, `type/*` or `type/*+suffix` (lower or upper case). */
const MEDIA_RANGE = "^[A-Za-z0-9!#$&^_.+-]+/(\\*|\\*\\+[A-Za-z0-9!#$&^_.-]+|[A-Za-z0-9!#$&^_.+-]+)$";

const Settings = Strict(
  {
    encodings: Type.Optional(
      Type.Array(Type.Union(ENCODINGS.map((e) => Type.Literal(e))), {
        minItems: 1,
        default: [...ENCODINGS],
        description:
          'The encodings Brisk may use, in its order of preference: among those the client accepts with the highest `q` in `Accept-Encoding`, the first listed wins. `zstd` needs Node.js 22.15+ or 23.8+; on an older runtime it is skipped (a warning when listed explicitly).',
      }),
    ),
    types: Type.Optional(
      Type.Array(Type.String({ pattern: MEDIA_RANGE }), {
        minItems: 1,
        default: [...DEFAULT_TYPES],
        description:
          'Content types compressed: `type/subtype`, `type/*` or `type/*+suffix` (`application/*+json`). Parameters (`; charset=utf-8`) are ignored. Add `text/event-stream` to compress event streams (each event is flushed as it arrives).',
      }),
    ),
    minSize: Type.Optional(Size('Responses whose `Content-Length` is smaller are sent as they are (compression would not pay). A streamed response of unknown length is compressed.', '1kb')),
    level: Type.Optional(
      Strict(
        {
          gzip: Type.Optional(Type.Integer({ minimum: 1, maximum: 9, default: 6, description: 'gzip level (1 fastest … 9 smallest).' })),
          br: Type.Optional(Type.Integer({ minimum: 0, maximum: 11, default: 4, description: 'Brotli quality (0 fastest … 11 smallest; above 6 is too slow for responses made per request).' })),
          zstd: Type.Optional(Type.Integer({ minimum: 1, maximum: 19, default: 3, description: 'zstd level (1 fastest … 19 smallest).' })),
        },
        'Compression levels: the trade between CPU and bytes.',
      ),
    ),
  },
  'Compression settings.',
);

/** The schema of the route key `compression`: `true` (the defaults) or settings. */
export const CompressionSchema = Type.Union([Type.Literal(true), Settings], {
  description:
    "Compress responses for clients that accept it (`Accept-Encoding`): `true`, or settings. Never a response that is already encoded, a range (206, `Content-Range`), one with `Cache-Control: no-transform`, a HEAD, 204 or 304, or one smaller than `minSize`. A compressed response gets `Content-Encoding`, `Vary: Accept-Encoding`, no `Content-Length` and a weak `ETag`. The route's cache stores the uncompressed response and compresses per client. See [compression.md](compression.md).",
});

/** `compression` as written in the file. */
export type RawCompression = Static<typeof CompressionSchema>;

/** The normalised `compression`. */
export interface CompressionConfig {
  /** The encodings that can be used on this runtime, in order of preference. */
  readonly encodings: readonly Encoding[];
  /** Lower-case media ranges. */
  readonly types: readonly string[];
  readonly minSize: number;
  readonly level: { readonly gzip: number; readonly br: number; readonly zstd: number };
}

/** Normalises `compression`: the encodings this runtime has, the types lower-cased. */
export function normalizeCompression(raw: RawCompression): Normalized<CompressionConfig> {
  const settings = raw === true ? {} : raw;
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const listed = settings.encodings ?? ENCODINGS;
  const zstd = zstdAvailable();
  const encodings = [...new Set(listed)].filter((e) => e !== 'zstd' || zstd);
  if (settings.encodings !== undefined && settings.encodings.includes('zstd') && !zstd) {
    warnings.push({ path: ['encodings', settings.encodings.indexOf('zstd')], message: `this Node.js (${process.version}) has no zstd (it needs 22.15+ or 23.8+); zstd is skipped` });
  }
  if (encodings.length === 0) problems.push({ path: ['encodings'], message: 'no encoding this Node.js can produce is left; list gzip or br' });
  const minSize = sizeBytes(settings.minSize ?? '1kb') ?? 1024;
  if (problems.length > 0) return { problems, warnings };
  return {
    config: {
      encodings,
      types: [...new Set((settings.types ?? DEFAULT_TYPES).map((t) => t.toLowerCase()))],
      minSize,
      level: { gzip: settings.level?.gzip ?? 6, br: settings.level?.br ?? 4, zstd: settings.level?.zstd ?? 3 },
    },
    problems,
    warnings,
  };
}
