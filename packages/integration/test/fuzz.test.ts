import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPENAPI_PATH } from '@registry/service';
import {
  localProviders,
  type MlflowHandle,
  schemathesisExecutable,
  startMlflowWith,
  workspaceRoot,
} from '@registry/testkit';
import { describeOnProvider } from '@registry/testkit/suites';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { realMlflowEnv, startListeningService } from './support/service.js';

const API_KEY = 'fuzz-api-key-0123456789';
// The admin token is not given to Schemathesis: with it, the fuzzer would open the breaker by hand and
// every MLflow-bound answer after that would be a (documented) 503. Its admin routes answer 401.
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789';
/** What every answer must satisfy (the four checks issue 11 names). */
const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
];
/**
 * Bounds of one run: examples per operation, the whole run, and each request. In `npm test` this file is
 * the integration package's `fuzz` task, which runs beside the rest of the integration suite (no timed
 * suite runs beside it) at the lowest CPU priority, SCHED_IDLE (`chrt --idle 0`): README, "Fuzzing".
 */
const MAX_EXAMPLES = 40;
const MAX_SECONDS = 150;
const REQUEST_TIMEOUT_SECONDS = 15;
const REPORT_DIR = join(workspaceRoot(), 'reports', 'fuzz');

/** Runs Schemathesis against `url` and resolves with its exit code and output; killed past the bound. */
function runSchemathesis(url: string): Promise<{ code: number | null; output: string }> {
  mkdirSync(REPORT_DIR, { recursive: true });
  const args = [
    'run',
    `${url}${OPENAPI_PATH}`,
    '--checks',
    CHECKS.join(','),
    '--max-examples',
    String(MAX_EXAMPLES),
    '--max-time',
    String(MAX_SECONDS),
    '--request-timeout',
    String(REQUEST_TIMEOUT_SECONDS),
    '--seed',
    '11',
    '--workers',
    '1',
    '--header',
    `X-API-Key: ${API_KEY}`,
    '--report',
    'junit,ndjson',
    '--report-junit-path',
    join(REPORT_DIR, 'junit.xml'),
    '--report-ndjson-path',
    join(REPORT_DIR, 'events.ndjson'),
    '--generation-database',
    'none',
    '--no-color',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(schemathesisExecutable(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), (MAX_SECONDS + 60) * 1000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, output });
    });
  });
}

const processProvider = localProviders().find((local) => local.name === 'process');
if (processProvider) {
  describeOnProvider('Fuzzing against the OpenAPI document (Schemathesis)', processProvider, () => {
    let mlflow: MlflowHandle;
    beforeAll(async () => {
      mlflow = await startMlflowWith('process');
    });
    afterAll(async () => mlflow?.stop());

    it(
      'finds no server error, undocumented status, wrong content type or answer outside its schema in any operation',
      async () => {
        expect(existsSync(schemathesisExecutable()), 'Schemathesis is provisioned by npm run setup').toBe(true);
        await using service = await startListeningService({
          ...realMlflowEnv(mlflow.url),
          API_KEYS: API_KEY,
          ADMIN_TOKEN,
          ADMIN_AUTH_MAX_FAILURES: '100000',
        });
        const { code, output } = await runSchemathesis(service.url);
        process.stdout.write(`${output}\n`);
        expect(output).toMatch(/Selected: \d+\/\d+/);
        expect(code, 'Schemathesis exit code (its report is in reports/fuzz/)').toBe(0);
        expect(readFileSync(join(REPORT_DIR, 'junit.xml'), 'utf8')).toContain('<testsuite');
      },
      (MAX_SECONDS + 120) * 1000,
    );
  });
}
