#!/usr/bin/env node
// Writes the settings table of README.md (between <!-- settings:start --> and <!-- settings:end -->) from
// the service's SETTINGS (run by the build). With CI set, or with --check, it writes nothing and fails
// when the README holds another table.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatSettingsTable } from '../dist/settings-doc.js';

const target = fileURLToPath(new URL('../../../README.md', import.meta.url));
const check = process.argv.includes('--check') || ['1', 'true'].includes(String(process.env.CI).toLowerCase());
const START = '<!-- settings:start -->\n';
const END = '\n<!-- settings:end -->';
const readme = readFileSync(target, 'utf8');
const from = readme.indexOf(START);
const to = readme.indexOf(END);
if (from === -1 || to < from) {
  process.stderr.write('README.md has no <!-- settings:start --> ... <!-- settings:end --> section\n');
  process.exit(1);
}
const expected = `${readme.slice(0, from + START.length)}${formatSettingsTable()}${readme.slice(to)}`;

if (readme === expected) {
  process.stderr.write('README.md settings table is up to date\n');
} else if (check) {
  process.stderr.write(
    'README.md settings table is stale: SETTINGS gives another one. Run `npm run build` and commit README.md.\n',
  );
  process.exit(1);
} else {
  writeFileSync(target, expected);
  process.stderr.write('wrote the settings table of README.md\n');
}
