#!/usr/bin/env node
// registry-ops: diagnose, recover, deploy and roll back the registry service.
//   npm run ops -- diagnose --api-url https://registry.example --mlflow-url https://mlflow.example
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { type AwsClients, createAwsClients, hasAwsCredentials } from './aws.js';
import { deploy, rollback } from './deploy.js';
import { type DiagnoseOptions, diagnose, formatDiagnosis } from './diagnose.js';
import { recover } from './recover.js';

const USAGE = `usage: registry-ops <diagnose|recover|deploy|rollback> [options]

connection options (every command):
  --api-url URL            the registry service (required)
  --api-key KEY            an API key, when the service has API_KEYS
  --admin-token TOKEN      the service's ADMIN_TOKEN (recover resets the breaker with it)
  --mlflow-url URL         MLflow, checked directly with a REST call
  --database-url URL       PostgreSQL          --redis-url URL    Redis
  --aws-region REGION      AWS checks run when credentials exist (environment or shared files)
  --ecs-cluster NAME       --ecs-service NAME (repeatable)     --target-group-arn ARN (repeatable)
output:
  --json                   JSON instead of the readable summary
  --output FILE            also write the JSON report to FILE
  --verbose                details of every check
recover:   --dry-run  --stable-checks N (3)  --stabilize-timeout SECONDS (120)
deploy:    --image IMAGE  [--container NAME]  [--backup-dir DIR (./task-definition-backups)]  --dry-run  --yes
rollback:  [--to-revision N]  --dry-run  --yes
exit codes: diagnose 0 healthy, 1 degraded, 2 critical; recover 0 success, 1 partial, 2 failed;
            deploy/rollback 0 done or planned, 1 cancelled, 2 failed; 64 for bad usage`;

class UsageError extends Error {}

function number(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0)
    throw new UsageError(`${name}: expected a non-negative number (got "${value}")`);
  return parsed;
}

function requireImage(image: string | undefined): string {
  if (!image) throw new UsageError('deploy needs --image');
  return image;
}

async function confirmOnTerminal(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new UsageError('refusing to change ECS without confirmation: stdin is not a terminal, pass --yes');
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 64;
  }
  if (!['diagnose', 'recover', 'deploy', 'rollback'].includes(command))
    throw new UsageError(`unknown command "${command}"`);
  const { values } = parseArgs({
    args: rest,
    options: {
      'api-url': { type: 'string' },
      'api-key': { type: 'string' },
      'admin-token': { type: 'string' },
      'mlflow-url': { type: 'string' },
      'database-url': { type: 'string' },
      'redis-url': { type: 'string' },
      'aws-region': { type: 'string' },
      'ecs-cluster': { type: 'string' },
      'ecs-service': { type: 'string', multiple: true },
      'target-group-arn': { type: 'string', multiple: true },
      output: { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      'stable-checks': { type: 'string' },
      'stabilize-timeout': { type: 'string' },
      image: { type: 'string' },
      container: { type: 'string' },
      'backup-dir': { type: 'string' },
      'to-revision': { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
    },
  });
  const apiUrl = values['api-url'];
  if (!apiUrl) throw new UsageError('--api-url is required');
  const connection: DiagnoseOptions = {
    apiUrl,
    apiKey: values['api-key'],
    mlflowUrl: values['mlflow-url'],
    databaseUrl: values['database-url'],
    redisUrl: values['redis-url'],
    ecsCluster: values['ecs-cluster'],
    ecsServices: values['ecs-service'],
    targetGroupArns: values['target-group-arn'],
  };
  const region = values['aws-region'] ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  const aws: AwsClients | undefined = region && hasAwsCredentials() ? createAwsClients(region) : undefined;
  const emit = (report: unknown, text: string) => {
    if (values.output) writeFileSync(values.output, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${values.json ? JSON.stringify(report, null, 2) : text}\n`);
  };

  if (command === 'diagnose') {
    const diagnosis = await diagnose(connection, { aws });
    emit(diagnosis, formatDiagnosis(diagnosis, values.verbose));
    return diagnosis.exitCode;
  }
  if (command === 'recover') {
    const report = await recover(
      {
        ...connection,
        adminToken: values['admin-token'],
        dryRun: values['dry-run'] ?? false,
        stableChecks: number(values['stable-checks'], '--stable-checks', 3),
        stabilizeTimeoutMs: number(values['stabilize-timeout'], '--stabilize-timeout', 120) * 1000,
      },
      { aws },
    );
    const text = [
      `registry-ops recover${report.dryRun ? ' (dry run: nothing changed)' : ''}: ${report.verdict.toUpperCase()}`,
      ...report.actions.map((a) => `  [${a.result}] ${a.step}: ${a.description}`),
    ].join('\n');
    emit(report, text);
    return report.verdict === 'success' ? 0 : report.verdict === 'partial' ? 1 : 2;
  }
  if (!aws) throw new UsageError(`${command} needs AWS credentials and --aws-region`);
  if (!values['ecs-cluster'] || values['ecs-service']?.length !== 1) {
    throw new UsageError(`${command} needs --ecs-cluster and exactly one --ecs-service`);
  }
  const deps = {
    ecs: aws.ecs,
    confirm: values.yes ? async () => true : confirmOnTerminal,
    verify: () => diagnose(connection, { aws }),
  };
  const rollout = {
    cluster: values['ecs-cluster'],
    service: values['ecs-service'][0] as string,
    dryRun: values['dry-run'] ?? false,
  };
  const report =
    command === 'deploy'
      ? await deploy(
          {
            ...rollout,
            image: requireImage(values.image),
            container: values.container,
            backupDir: values['backup-dir'] ?? 'task-definition-backups',
          },
          deps,
        )
      : await rollback(
          {
            ...rollout,
            toRevision: values['to-revision'] ? number(values['to-revision'], '--to-revision', 0) : undefined,
          },
          deps,
        );
  emit(
    report,
    [
      `registry-ops ${command}: ${report.outcome}`,
      ...report.steps.map((s) => `  [${s.result}] ${s.step}: ${s.detail}`),
    ].join('\n'),
  );
  return report.outcome === 'failed' ? 2 : report.outcome === 'cancelled' ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`registry-ops: ${error.message}\n\n${USAGE}\n`);
      process.exit(64);
    }
    process.stderr.write(`registry-ops: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
