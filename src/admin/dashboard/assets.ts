import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One static file of the dashboard, read once and kept in memory. */
export interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  /** A strong validator: the SHA-256 of the body. */
  readonly etag: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml; charset=utf-8',
  '.png': 'image/png',
};

/**
 * Where the page's files are. They are plain hand-written HTML, CSS and ES modules with no
 * build step, so they stay in the source tree: the compiled server (dist/src/admin/dashboard/)
 * reads them from src/admin/dashboard/public/, which exists in every clone and needs no
 * copy step in the TypeScript build. A `public/` folder next to this module wins when there
 * is one (running the sources directly, or a package that copied the folder next to it).
 */
export function findAssetDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'public');
  if (existsSync(beside)) return beside;
  const marker = `${sep}dist${sep}src${sep}`;
  const at = here.lastIndexOf(marker);
  if (at !== -1) {
    const inSource = join(here.slice(0, at), 'src', here.slice(at + marker.length), 'public');
    if (existsSync(inSource)) return inSource;
  }
  throw new Error(`the dashboard's files are missing: neither ${beside} nor the source tree's src/admin/dashboard/public exist`);
}

/**
 * The dashboard's files by name. Only the files present when it was loaded can be served,
 * and only by their plain name: a path with a slash or dot-dot never reaches the disk.
 */
export class AssetStore {
  private files: Map<string, Asset> | null = null;

  constructor(private readonly dir: () => string = findAssetDir) {}

  /** The asset called `name` (`app.js`), or undefined. Reads the folder on first use. */
  get(name: string): Asset | undefined {
    this.files ??= this.load();
    return this.files.get(name);
  }

  private load(): Map<string, Asset> {
    const dir = this.dir();
    const files = new Map<string, Asset>();
    for (const name of readdirSync(dir)) {
      const contentType = CONTENT_TYPES[extname(name)];
      const path = join(dir, name);
      if (contentType === undefined || !statSync(path).isFile()) continue;
      const body = readFileSync(path);
      files.set(name, { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
    }
    return files;
  }
}
