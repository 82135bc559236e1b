// Coverage gate for packages/service/src: merges the istanbul JSON that the unit and integration runs
// wrote, checks that every source file is in it (a file no run measured would otherwise vanish from the
// totals instead of counting at 0 %), prints the totals and the weakest files, and exits 1 below the
// thresholds.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import libCoverage from 'istanbul-lib-coverage';

/** Minimum percentages for packages/service/src. */
export const THRESHOLDS = { statements: 90, branches: 85, functions: 90, lines: 90 };
/**
 * Sources no in-process run can measure, each with the reason (stated in the README too). Everything
 * else under packages/service/src must appear in the merged coverage.
 */
export const EXCLUDED = {
  'service/src/server.ts':
    'the entry point (env, listen, signals, shutdown, EMF wiring) runs only as a child process, in the server-process integration tests and chaos',
};
/**
 * The coverage directories to merge, relative to packages/ (the arguments; each package script names the
 * runs its turbo task waits for). Every one must exist: a run that wrote nothing is a failure, not 0 %.
 */
const SOURCES = process.argv.slice(2);
const packagesDir = fileURLToPath(new URL('..', import.meta.url));
if (SOURCES.length === 0) {
  console.error('coverage gate: name the coverage directories to merge, e.g. unit/coverage integration/coverage');
  process.exit(1);
}

const map = libCoverage.createCoverageMap({});
for (const source of SOURCES) {
  const file = join(packagesDir, source, 'coverage-final.json');
  if (!existsSync(file)) {
    console.error(`coverage gate: ${file} is missing; run the tests that write ${source} first (turbo does).`);
    process.exit(1);
  }
  map.merge(JSON.parse(readFileSync(file, 'utf8')));
}

const serviceSrc = join(packagesDir, 'service', 'src');
const sources = readdirSync(serviceSrc, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
  .map((file) => relative(packagesDir, join(serviceSrc, file)));
const measured = new Set(map.files().map((file) => relative(packagesDir, file)));
const unmeasured = sources.filter((file) => !measured.has(file) && !(file in EXCLUDED));
if (unmeasured.length > 0) {
  console.error(`coverage gate: ${unmeasured.length} source file(s) missing from the coverage (no run measured them):`);
  for (const file of unmeasured) console.error(`  ${file}`);
  console.error('coverage gate failed');
  process.exit(1);
}
for (const [file, reason] of Object.entries(EXCLUDED)) console.log(`  excluded: ${file} (${reason})`);

const rows = map.files().map((file) => {
  const summary = map.fileCoverageFor(file).toSummary();
  return {
    file: relative(packagesDir, file),
    statements: summary.statements.pct,
    branches: summary.branches.pct,
    functions: summary.functions.pct,
    lines: summary.lines.pct,
  };
});
const total = map.getCoverageSummary();
console.log(`coverage of service/src (${SOURCES.join(' + ')}, ${rows.length} of ${sources.length} files measured)`);
console.log('  weakest files:');
for (const row of rows.sort((a, b) => a.lines - b.lines).slice(0, 5)) {
  console.log(
    `    ${row.file.padEnd(40)} ${Object.keys(THRESHOLDS)
      .map((metric) => `${metric} ${String(row[metric]).padStart(6)} %`)
      .join('  ')}`,
  );
}
let failed = false;
for (const [metric, minimum] of Object.entries(THRESHOLDS)) {
  const pct = total[metric].pct;
  const ok = pct >= minimum;
  failed ||= !ok;
  console.log(
    `  ${metric.padEnd(10)} ${String(pct).padStart(6)} % (minimum ${minimum} %) ${ok ? 'ok' : 'BELOW THRESHOLD'}`,
  );
}
if (failed) {
  console.error('coverage gate failed');
  process.exit(1);
}
console.log('coverage gate passed');
