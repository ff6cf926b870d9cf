#!/usr/bin/env node
/**
 * Makes a checkout runnable: dependencies installed, TypeScript compiled.
 *
 * Plain Node, no dependencies: it runs on a fresh clone before `npm install`.
 * Both steps decide from file modification times only, so when nothing changed the
 * whole script costs a few tens of milliseconds (it runs before every `npm start`,
 * `npm test` and `npm run bench`).
 *
 *   node scripts/ensure.mjs          # install if needed, then build if needed
 *   node scripts/ensure.mjs --bench  # and the benchmark peers (bench/package.json), for `npm run bench`
 *
 * Environment:
 *   BRISK_FORCE_BUILD=1          rebuild even when dist/ looks up to date
 *   BRISK_IGNORE_TYPE_ERRORS=1   go on with the emitted JavaScript when tsc reports errors
 *                                (for work in progress; CI never sets it)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Root of the repository (this file lives in scripts/). */
export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * Written into dist/ after a build that succeeded, and only then. Freshness is judged
 * against it rather than against any emitted file because tsc emits JavaScript even
 * when type-checking fails: judged by the emitted files, a failed build would look up
 * to date on the next run and its errors would go unnoticed.
 */
const BUILD_STAMP = join(ROOT, 'dist', '.brisk-build-ok');

const isWindows = process.platform === 'win32';

function say(message) {
  process.stdout.write(`[brisk] ${message}\n`);
}

function mtimeOrZero(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Newest modification time of a tree, directories included: adding, removing or
 * renaming a file changes its directory's time, so a deleted source is noticed too.
 * Returns [mtimeMs, path] of the newest entry, or [0, ''] when the tree is absent.
 */
function newestUnder(dir, filter = () => true) {
  let newest = 0;
  let newestPath = '';
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop();
    let entries;
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch {
      continue;
    }
    const dirTime = mtimeOrZero(current);
    if (dirTime > newest) {
      newest = dirTime;
      newestPath = current;
    }
    for (const entry of entries) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && !entry.name.startsWith('.')) stack.push(path);
      } else if (filter(entry.name)) {
        const time = mtimeOrZero(path);
        if (time > newest) {
          newest = time;
          newestPath = path;
        }
      }
    }
  }
  return [newest, newestPath];
}

function run(command, args, what, shown = [command, ...args].join(' '), cwd = ROOT) {
  say(`${what}: running ${shown}`);
  const started = Date.now();
  const result = spawnSync(command, args, { cwd, stdio: 'inherit', shell: isWindows });
  if (result.error) {
    throw new Error(`${what} could not start ${shown}: ${result.error.message}`);
  }
  if (result.status !== 0) {
    const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.status}`;
    throw new Error(`${what} failed: ${shown} ${how}`);
  }
  say(`${what}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Installs the dependencies of the package in `dir` (the project by default) when its
 * node_modules is missing or older than the lockfile (`npm ci`; `npm install` when there
 * is no lockfile). Does nothing otherwise.
 * @param {string} [dir] the directory holding package.json
 * @param {string} [what] what is installed, for the messages
 * @param {string[]} [npmArgs] more arguments for npm
 * @returns {boolean} whether it installed anything
 */
export function ensureInstalled(dir = ROOT, what = 'dependencies', npmArgs = []) {
  const lockfile = join(dir, 'package-lock.json');
  const modules = join(dir, 'node_modules');
  // npm writes this "hidden lockfile" at the end of every install: its time is the
  // time of the last complete install.
  const installedLock = join(modules, '.package-lock.json');
  const hasLock = existsSync(lockfile);

  let reason;
  if (!existsSync(modules)) reason = `${relative(ROOT, modules)} is missing`;
  else if (!existsSync(installedLock)) reason = `${relative(ROOT, modules)} looks incomplete (no ${relative(ROOT, installedLock)})`;
  else if (hasLock && mtimeOrZero(lockfile) > mtimeOrZero(installedLock)) reason = `${relative(ROOT, lockfile)} changed since the last install`;
  if (reason === undefined) return false;

  say(`installing ${what}: ${reason}`);
  const args = [hasLock ? 'ci' : 'install', '--no-audit', '--no-fund', ...npmArgs];
  run('npm', args, hasLock ? 'npm ci' : 'npm install', ['npm', ...args].join(' ') + (dir === ROOT ? '' : ` (in ${relative(ROOT, dir)}/)`), dir);
  return true;
}

/**
 * Installs the benchmark peers and load generator (bench/package.json) for `npm run bench`.
 * They are kept out of the project's install because the tests need none of them and some
 * declare Node >= 22 engines (fast-gateway's restana and 0http, fastify's cookie) while
 * running on Node 20: npm's engine warnings are silenced here (`--loglevel=error`), and the
 * benchmark harness reports a peer that fails to start.
 * @returns {boolean} whether it installed anything
 */
export function ensureBenchPeers() {
  return ensureInstalled(join(ROOT, 'bench'), 'the benchmark peers', ['--loglevel=error']);
}

/**
 * The npm workspaces under packages/ that have a tsconfig.json (the service toolkit,
 * packages/service): each is compiled by its own `tsc -p` into its own dist/, so it can
 * be published on its own and never shares an output tree with the gateway.
 * @returns {string[]} absolute paths of the package directories
 */
export function workspacePackages() {
  const base = join(ROOT, 'packages');
  let names = [];
  try {
    names = readdirSync(base, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
  const dirs = names
    .sort()
    .map((name) => join(base, name))
    .filter((dir) => existsSync(join(dir, 'tsconfig.json')));
  return inDependencyOrder(dirs);
}

/**
 * Orders package directories so that a package comes after the workspace packages it
 * depends on (the shop and the support service import the toolkit's type declarations,
 * which exist only once the toolkit is built). A cycle keeps the alphabetical order.
 * @param {string[]} dirs package directories, alphabetical
 * @returns {string[]}
 */
function inDependencyOrder(dirs) {
  const nameOf = new Map();
  const depsOf = new Map();
  for (const dir of dirs) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      nameOf.set(manifest.name, dir);
      depsOf.set(dir, Object.keys({ ...manifest.dependencies, ...manifest.devDependencies, ...manifest.peerDependencies }));
    } catch {
      depsOf.set(dir, []);
    }
  }
  const ordered = [];
  const state = new Map();
  const visit = (dir) => {
    if (state.get(dir) !== undefined) return;
    state.set(dir, 'visiting');
    for (const dep of depsOf.get(dir) ?? []) {
      const depDir = nameOf.get(dep);
      if (depDir !== undefined && state.get(depDir) === undefined) visit(depDir);
    }
    state.set(dir, 'done');
    ordered.push(dir);
  };
  for (const dir of dirs) visit(dir);
  return ordered;
}

/**
 * Compiles the TypeScript (`tsc -p packages/NAME/tsconfig.json` for each workspace package,
 * then `tsc -p tsconfig.json`) when a file under src/ or test/ (or a package's src/, test/,
 * proof/), or a tsconfig.json, is newer than the last successful build, or when the CLI
 * entry point is missing. Throws when the compiler reports errors.
 * @returns {boolean} whether it built
 */
export function ensureBuilt() {
  const entry = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const entrySource = join(ROOT, 'src', 'cli', 'main.ts');

  let reason;
  if (process.env.BRISK_FORCE_BUILD === '1') reason = 'BRISK_FORCE_BUILD=1';
  else if (!existsSync(BUILD_STAMP)) reason = existsSync(join(ROOT, 'dist')) ? 'no successful build recorded in dist/' : 'dist/ is missing';
  else if (existsSync(entrySource) && !existsSync(entry)) reason = `${relative(ROOT, entry)} is missing`;
  else {
    const built = mtimeOrZero(BUILD_STAMP);
    const isSource = (name) => name.endsWith('.ts') || name.endsWith('.mts') || name.endsWith('.cts') || name.endsWith('.json');
    const candidates = [newestUnder(join(ROOT, 'src'), isSource), newestUnder(join(ROOT, 'test'), isSource), [mtimeOrZero(join(ROOT, 'tsconfig.json')), join(ROOT, 'tsconfig.json')]];
    for (const dir of workspacePackages()) {
      for (const sub of ['src', 'test', 'proof']) candidates.push(newestUnder(join(dir, sub), isSource));
      candidates.push([mtimeOrZero(join(dir, 'tsconfig.json')), join(dir, 'tsconfig.json')]);
    }
    for (const [time, path] of candidates) {
      if (time > built) {
        reason = `${relative(ROOT, path) || path} changed since the last build`;
        break;
      }
    }
  }
  if (reason === undefined) return false;

  say(`building: ${reason}`);
  const tscJs = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tscJs)) {
    throw new Error('TypeScript is not installed (node_modules/typescript is missing); run `npm install`');
  }
  // The compiler is run with this very node rather than through npx: npx would try
  // the network when the package is missing, and a shell wrapper is not needed.
  // Sources saved while the compiler runs may not be in its output: the stamp takes
  // the time the build started, so such a file still counts as newer next time.
  const startedAt = new Date();
  try {
    // The packages first: they never import the gateway, but the gateway's tests import
    // them (through their dist/ type declarations), so a clean clone needs them built.
    for (const dir of workspacePackages()) {
      const project = relative(ROOT, join(dir, 'tsconfig.json'));
      run(process.execPath, [tscJs, '-p', project], 'tsc', `tsc -p ${project}`);
    }
    run(process.execPath, [tscJs, '-p', 'tsconfig.json'], 'tsc', 'tsc -p tsconfig.json');
    // The config validator compiled ahead of time (a start then skips Ajv's code generation).
    run(process.execPath, [join(ROOT, 'scripts', 'gen-validator.mjs')], 'gen-validator', 'node scripts/gen-validator.mjs');
  } catch (error) {
    // tsc has still written the JavaScript; without a stamp the errors come back next run.
    if (process.env.BRISK_IGNORE_TYPE_ERRORS === '1' && existsSync(join(ROOT, 'dist'))) {
      say(`WARNING: ${error.message}; going on anyway because BRISK_IGNORE_TYPE_ERRORS=1`);
      return true;
    }
    throw new Error(`the TypeScript build failed (errors above); fix them and run again (or set BRISK_IGNORE_TYPE_ERRORS=1 to run the emitted JavaScript anyway). ${error.message}`);
  }
  mkdirSync(dirname(BUILD_STAMP), { recursive: true });
  writeFileSync(BUILD_STAMP, `${startedAt.toISOString()}\n`);
  utimesSync(BUILD_STAMP, startedAt, startedAt);
  return true;
}

/**
 * Compiles the config validator ahead of time (scripts/gen-validator.mjs) when the build
 * has none or one older than the compiled sources: a bare `tsc` (land scripts, editors)
 * rewrites dist/ without it. Without it the gateway still works, but compiles the
 * validator at every start. Returns whether it ran.
 */
export function ensureValidator() {
  const file = join(ROOT, 'dist', 'src', 'config', 'validator.generated.cjs');
  // Files only: writing the validator changes its directory's time.
  let newest = 0;
  const stack = [join(ROOT, 'dist', 'src')];
  while (stack.length > 0) {
    const dir = stack.pop();
    let entries = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (e.isDirectory()) stack.push(join(dir, e.name));
      else if (e.name.endsWith('.js')) newest = Math.max(newest, mtimeOrZero(join(dir, e.name)));
    }
  }
  // The same script writes yaml's one-file bundle beside it (src/config/yaml.ts).
  const yamlBundle = join(ROOT, 'dist', 'src', 'config', 'yaml.bundle.cjs');
  if (newest === 0 || (mtimeOrZero(file) >= newest && mtimeOrZero(yamlBundle) > 0)) return false;
  run(process.execPath, [join(ROOT, 'scripts', 'gen-validator.mjs')], 'gen-validator', 'node scripts/gen-validator.mjs');
  return true;
}

/**
 * Installs and builds what is missing; on failure says why and exits 1 (for the scripts
 * behind `npm start`, `npm test` and `npm run bench`). True when anything had to be done.
 */
export function ensureReady({ bench = false } = {}) {
  try {
    const installed = ensureInstalled();
    const built = ensureBuilt();
    const validator = ensureValidator();
    const peers = bench && ensureBenchPeers();
    return installed || built || validator || peers;
  } catch (error) {
    process.stderr.write(`[brisk] ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly && !ensureReady({ bench: process.argv.includes('--bench') })) say('dependencies installed and build up to date');
