#!/usr/bin/env node
// Writes the settings table of README.md (between <!-- settings:start --> and <!-- settings:end -->) from
// the service's SETTINGS (run by the build). With CI set, or with --check, it writes nothing and fails
// when the README holds another table.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatSettingsTable } from '../dist/settings-doc.js';
import { writeGeneratedFile } from './generated-file.mjs';

const target = fileURLToPath(new URL('../../../README.md', import.meta.url));
const START = '<!-- settings:start -->\n';
const END = '\n<!-- settings:end -->';
const readme = readFileSync(target, 'utf8');
const from = readme.indexOf(START);
const to = readme.indexOf(END);
if (from === -1 || to < from) {
  process.stderr.write('README.md has no <!-- settings:start --> ... <!-- settings:end --> section\n');
  process.exit(1);
}
writeGeneratedFile({
  target,
  what: 'the settings table of README.md',
  committed: readme,
  expected: `${readme.slice(0, from + START.length)}${formatSettingsTable()}${readme.slice(to)}`,
  staleHint: 'SETTINGS gives another one. Run `npm run build` and commit README.md.',
});
