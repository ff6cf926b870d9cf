/**
 * The YAML library, `yaml`, from the one-file bundle the build writes next to this module
 * (`dist/src/config/yaml.bundle.cjs`, by scripts/gen-validator.mjs with
 * scripts/bundle-cjs.mjs): the package is 72 CommonJS files, and finding, reading and
 * wrapping them cost ~35 ms of CPU at every start against ~9 ms for the same code in one
 * file. Without the bundle, or with one of another version of the package (a `tsc`-only
 * build, a changed lock file), the package itself is loaded: slower, never different.
 * Import the library's values and types from here, not from `yaml`
 * (`test/startup.test.ts` fails when a start loads the package's files).
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

export type { CST, Document, Node, Pair, Scalar } from 'yaml';

const require = createRequire(import.meta.url);

function load(): typeof Yaml {
  const { version } = require('yaml/package.json') as { version: string };
  try {
    const bundle = require('./yaml.bundle.cjs') as { version: string; exports: typeof Yaml };
    if (bundle.version === version) return bundle.exports;
  } catch {
    // not generated: the package below
  }
  return require('yaml') as typeof Yaml;
}

const yaml = load();

export const { Composer, LineCounter, Parser, YAMLParseError, isAlias, isMap, isPair, isScalar, isSeq, parse, parseDocument, visit } = yaml;
/** The classes' instance types, under the same names as their values (as `yaml` exports them). */
export type Composer = Yaml.Composer;
export type LineCounter = Yaml.LineCounter;
export type Parser = Yaml.Parser;
export type YAMLParseError = Yaml.YAMLParseError;
