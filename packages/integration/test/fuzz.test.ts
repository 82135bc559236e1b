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
// The admin token is withheld from the main run: with it, the fuzzer would open the breaker by hand and
// every MLflow-bound answer after that would be a (documented) 503. Its admin routes answer 401 there; a
// second, shorter run fuzzes them alone with the token, so that their answers are checked too.
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789';
/** The manual breaker control, fuzzed with the admin token after the main run. */
const ADMIN_OPERATIONS = '^/health/mlflow/(reset|open)$';
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
const MAX_SECONDS = 140;
const ADMIN_MAX_SECONDS = 10;
const REQUEST_TIMEOUT_SECONDS = 15;
const REPORT_DIR = join(workspaceRoot(), 'reports', 'fuzz');

/** One Schemathesis run: its time bound, its own arguments, and the directory of its reports below REPORT_DIR. */
interface FuzzRun {
  readonly maxSeconds: number;
  readonly args: readonly string[];
  readonly reportName: string;
}

/** Runs Schemathesis against `url` and resolves with its exit code and output; killed past the bound. */
function runSchemathesis(url: string, run: FuzzRun): Promise<{ code: number | null; output: string }> {
  const reports = join(REPORT_DIR, run.reportName);
  mkdirSync(reports, { recursive: true });
  const args = [
    'run',
    `${url}${OPENAPI_PATH}`,
    '--checks',
    CHECKS.join(','),
    '--max-examples',
    String(MAX_EXAMPLES),
    '--max-time',
    String(run.maxSeconds),
    '--request-timeout',
    String(REQUEST_TIMEOUT_SECONDS),
    '--seed',
    '11',
    '--workers',
    '1',
    ...run.args,
    '--report',
    'junit,ndjson',
    '--report-junit-path',
    join(reports, 'junit.xml'),
    '--report-ndjson-path',
    join(reports, 'events.ndjson'),
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
    const killer = setTimeout(() => child.kill('SIGKILL'), (run.maxSeconds + 60) * 1000);
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
    /** The service as both runs fuzz it: an API key, the admin token set, no lockout of failed admin attempts. */
    const startFuzzedService = () =>
      startListeningService({
        ...realMlflowEnv(mlflow.url),
        API_KEYS: API_KEY,
        ADMIN_TOKEN,
        ADMIN_AUTH_MAX_FAILURES: '100000',
      });

    it(
      'finds no server error, undocumented status, wrong content type or answer outside its schema in any operation',
      async () => {
        expect(existsSync(schemathesisExecutable()), 'Schemathesis is provisioned by npm run setup').toBe(true);
        await using service = await startFuzzedService();
        const { code, output } = await runSchemathesis(service.url, {
          maxSeconds: MAX_SECONDS,
          args: ['--header', `X-API-Key: ${API_KEY}`],
          reportName: 'api',
        });
        process.stdout.write(`${output}\n`);
        expect(output).toMatch(/Selected: \d+\/\d+/);
        expect(code, 'Schemathesis exit code (its report is in reports/fuzz/api/)').toBe(0);
        expect(readFileSync(join(REPORT_DIR, 'api', 'junit.xml'), 'utf8')).toContain('<testsuite');
      },
      (MAX_SECONDS + 120) * 1000,
    );

    it(
      'finds none in the manual breaker control either when the fuzzer holds the admin token and opens and resets the breaker',
      async () => {
        await using service = await startFuzzedService();
        const { code, output } = await runSchemathesis(service.url, {
          maxSeconds: ADMIN_MAX_SECONDS,
          args: ['--include-path-regex', ADMIN_OPERATIONS, '--header', `Authorization: Bearer ${ADMIN_TOKEN}`],
          reportName: 'admin',
        });
        process.stdout.write(`${output}\n`);
        expect(output).toMatch(/Selected: 2\/\d+/);
        expect(code, 'Schemathesis exit code (its report is in reports/fuzz/admin/)').toBe(0);
        // The token was taken: the fuzzer opened the breaker by hand (every manual open counts as a trip).
        const status = await service.request.get('/health/status').expect(200);
        expect(status.body.circuit_breaker.trips_total).toBeGreaterThan(0);
      },
      (ADMIN_MAX_SECONDS + 120) * 1000,
    );
  });
}
