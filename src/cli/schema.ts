/**
 * `brisk schema`: the JSON Schema of the configuration file, for editors (the YAML
 * language server reads it from a `# yaml-language-server: $schema=...` comment) and
 * for other tools. It is the schema the loader validates with.
 */
import { publishedSchema } from '../config/json-schema.js';

/** The `$id` of the published schema: a stable name, not a URL anything is served from. */
export const SCHEMA_ID = 'urn:brisk:config';

/**
 * The configuration's JSON Schema (draft-07) as pretty-printed JSON.
 *
 * @example
 * writeFileSync('brisk.schema.json', schemaJson());
 */
export function schemaJson(): string {
  const schema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: SCHEMA_ID,
    title: 'Brisk configuration',
    ...publishedSchema(),
  };
  return JSON.stringify(schema, null, 2);
}
