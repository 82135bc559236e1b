// The one way the build's generators treat a committed file derived from the code: write it when it
// differs, or, with CI set or --check, write nothing and fail so the stale file is caught.
import { writeFileSync } from 'node:fs';

const check = process.argv.includes('--check') || ['1', 'true'].includes(String(process.env.CI).toLowerCase());

/**
 * Compares `committed` (the file's current text, undefined when missing) with `expected`; writes `target`
 * when they differ, unless checking, which exits 1 with `staleHint`. `what` names the file in messages.
 */
export function writeGeneratedFile({ target, what, committed, expected, staleHint }) {
  if (committed === expected) {
    process.stderr.write(`${what} is up to date\n`);
  } else if (check) {
    process.stderr.write(`${what} is stale: ${staleHint}\n`);
    process.exit(1);
  } else {
    writeFileSync(target, expected);
    process.stderr.write(`wrote ${what}\n`);
  }
}
