#!/usr/bin/env node
// Writes the service's OpenAPI document to docs/openapi.json (run by the build). With CI set, or with
// --check, it writes nothing and fails when the committed file differs from the document the routes give.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildOpenApiDocument, formatOpenApiDocument } from '../dist/openapi-document.js';
import { writeGeneratedFile } from './generated-file.mjs';

const target = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));
writeGeneratedFile({
  target,
  what: 'docs/openapi.json',
  committed: existsSync(target) ? readFileSync(target, 'utf8') : undefined,
  expected: formatOpenApiDocument(await buildOpenApiDocument()),
  staleHint: 'the route schemas give another document. Run `npm run build` and commit docs/openapi.json.',
});
