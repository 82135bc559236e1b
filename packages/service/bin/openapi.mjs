#!/usr/bin/env node
// Writes the service's OpenAPI document to docs/openapi.json (run by the build). With CI set, or with
// --check, it writes nothing and fails when the committed file differs from the document the routes give.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildOpenApiDocument, formatOpenApiDocument } from '../dist/openapi-document.js';

const target = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));
const check = process.argv.includes('--check') || ['1', 'true'].includes(String(process.env.CI).toLowerCase());
const expected = formatOpenApiDocument(await buildOpenApiDocument());
const committed = existsSync(target) ? readFileSync(target, 'utf8') : undefined;

if (committed === expected) {
  process.stderr.write('docs/openapi.json is up to date\n');
} else if (check) {
  process.stderr.write(
    'docs/openapi.json is stale: the route schemas give another document. Run `npm run build` and commit docs/openapi.json.\n',
  );
  process.exit(1);
} else {
  writeFileSync(target, expected);
  process.stderr.write('wrote docs/openapi.json\n');
}
