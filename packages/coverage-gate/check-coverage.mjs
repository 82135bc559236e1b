// Coverage gate for packages/service/src: merges the istanbul JSON that the unit and integration runs
// wrote, prints the totals and the weakest files, and exits 1 below the thresholds.
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import libCoverage from 'istanbul-lib-coverage';

/** Minimum percentages for packages/service/src. */
export const THRESHOLDS = { lines: 90, branches: 85 };
const SOURCES = ['unit', 'integration'];
const packagesDir = fileURLToPath(new URL('..', import.meta.url));

const map = libCoverage.createCoverageMap({});
for (const name of SOURCES) {
  const file = new URL(`../${name}/coverage/coverage-final.json`, import.meta.url);
  if (!existsSync(file)) {
    console.error(`coverage gate: ${fileURLToPath(file)} is missing; run the ${name} tests first (turbo does).`);
    process.exit(1);
  }
  map.merge(JSON.parse(readFileSync(file, 'utf8')));
}

const rows = map.files().map((file) => {
  const summary = map.fileCoverageFor(file).toSummary();
  return { file: relative(packagesDir, file), lines: summary.lines.pct, branches: summary.branches.pct };
});
const total = map.getCoverageSummary();
console.log(`coverage of service/src (unit + integration, ${rows.length} files)`);
console.log('  weakest files:');
for (const row of rows.sort((a, b) => a.lines - b.lines).slice(0, 5)) {
  console.log(
    `    ${row.file.padEnd(48)} lines ${String(row.lines).padStart(6)} %  branches ${String(row.branches).padStart(6)} %`,
  );
}
let failed = false;
for (const [metric, minimum] of Object.entries(THRESHOLDS)) {
  const pct = total[metric].pct;
  const ok = pct >= minimum;
  failed ||= !ok;
  console.log(
    `  ${metric.padEnd(8)} ${String(pct).padStart(6)} % (minimum ${minimum} %) ${ok ? 'ok' : 'BELOW THRESHOLD'}`,
  );
}
if (failed) {
  console.error('coverage gate failed');
  process.exit(1);
}
console.log('coverage gate passed');
