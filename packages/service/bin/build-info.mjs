#!/usr/bin/env node
// Stamps the build: writes dist/build-info.json with the commit built and when, which `/version` reports
// (so `registry-ops deploy` can prove which build is serving). The commit comes from GIT_COMMIT (an image
// build without .git sets it), else from git; the date from SOURCE_DATE_EPOCH (reproducible builds), else now.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function gitCommit() {
  if (process.env.GIT_COMMIT) return process.env.GIT_COMMIT;
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

const epoch = Number(process.env.SOURCE_DATE_EPOCH);
const buildDate = new Date(Number.isFinite(epoch) && epoch > 0 ? epoch * 1000 : Date.now()).toISOString();
const info = { git_commit: gitCommit(), build_date: buildDate };
writeFileSync(fileURLToPath(new URL('../dist/build-info.json', import.meta.url)), `${JSON.stringify(info)}\n`);
process.stderr.write(`build ${info.git_commit} at ${info.build_date}\n`);
