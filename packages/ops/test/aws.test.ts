import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECK_IDS, type Diagnosis, deploy, diagnose, hasAwsCredentials, recover, rollback } from '../src/index.js';

const ecsMock = mockClient(ECSClient);
const elbMock = mockClient(ElasticLoadBalancingV2Client);
const aws = {
  ecs: new ECSClient({ region: 'us-east-1' }),
  elb: new ElasticLoadBalancingV2Client({ region: 'us-east-1' }),
};
// No service answers here: the API checks fail fast on a closed loopback port; these tests are about AWS.
const CLOSED = 'http://127.0.0.1:9';
const TG = 'arn:aws:elasticloadbalancing:us-east-1:123:targetgroup/registry/abc';

const service = (
  running: number,
  desired: number,
  taskDefinition = 'arn:aws:ecs:us-east-1:123:task-definition/registry:7',
) => ({
  services: [
    {
      serviceName: 'registry',
      runningCount: running,
      desiredCount: desired,
      pendingCount: 0,
      taskDefinition,
      deployments: [{ status: 'PRIMARY', rolloutState: 'COMPLETED' as const }],
    },
  ],
});
const healthy: Diagnosis = {
  at: '',
  apiUrl: CLOSED,
  checks: [],
  healthScore: 100,
  overall: 'healthy',
  exitCode: 0,
  criticalIssues: [],
  warnings: [],
  recommendations: [],
};
const critical: Diagnosis = { ...healthy, overall: 'critical', exitCode: 2 };
const noPause = async () => {};

afterEach(() => {
  ecsMock.reset();
  elbMock.reset();
});

describe('diagnose with AWS', () => {
  it('reports unhealthy targets and ECS services below desired', async () => {
    elbMock.on(DescribeTargetHealthCommand).resolves({
      TargetHealthDescriptions: [
        { Target: { Id: '10.0.0.1', Port: 8000 }, TargetHealth: { State: 'healthy' } },
        {
          Target: { Id: '10.0.0.2', Port: 8000 },
          TargetHealth: { State: 'unhealthy', Reason: 'Target.ResponseCodeMismatch' },
        },
      ],
    });
    ecsMock.on(DescribeServicesCommand).resolves(service(1, 2));
    const diagnosis = await diagnose(
      { apiUrl: CLOSED, ecsCluster: 'prod', ecsServices: ['registry'], targetGroupArns: [TG], timeoutMs: 2_000 },
      { aws },
    );
    const byId = Object.fromEntries(diagnosis.checks.map((c) => [c.id, c]));
    expect(byId[CHECK_IDS.awsTargets]).toMatchObject({ status: 'unhealthy' });
    expect(byId[CHECK_IDS.awsTargets]?.summary).toContain('10.0.0.2 unhealthy (Target.ResponseCodeMismatch)');
    expect(byId[CHECK_IDS.awsEcs]).toMatchObject({ status: 'degraded', summary: 'registry running 1 of 2' });
    expect(diagnosis.exitCode).toBe(2);
  });

  it('skips the AWS checks without credentials', async () => {
    const diagnosis = await diagnose({
      apiUrl: CLOSED,
      ecsCluster: 'prod',
      ecsServices: ['registry'],
      timeoutMs: 2_000,
    });
    const aws = [CHECK_IDS.awsTargets, CHECK_IDS.awsEcs] as string[];
    expect(diagnosis.checks.filter((c) => aws.includes(c.id)).map((c) => c.status)).toEqual(['skipped', 'skipped']);
  });

  it('detects credentials from the environment only', () => {
    expect(hasAwsCredentials({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', HOME: '/nonexistent' })).toBe(true);
    expect(hasAwsCredentials({ HOME: '/nonexistent' })).toBe(false);
  });
});

describe('recover with AWS', () => {
  it('forces a new deployment of a service below desired', async () => {
    ecsMock.on(DescribeServicesCommand).resolves(service(0, 2));
    const report = await recover(
      {
        apiUrl: CLOSED,
        ecsCluster: 'prod',
        ecsServices: ['registry'],
        dryRun: false,
        stabilizeTimeoutMs: 0,
        timeoutMs: 2_000,
      },
      { aws },
    );
    expect(ecsMock.commandCalls(UpdateServiceCommand)[0]?.args[0].input).toEqual({
      cluster: 'prod',
      service: 'registry',
      forceNewDeployment: true,
    });
    expect(report.actions.find((a) => a.step === 'restart ECS service')?.result).toBe('done');
  });

  it('changes nothing in a dry run', async () => {
    ecsMock.on(DescribeServicesCommand).resolves(service(0, 2));
    const report = await recover(
      { apiUrl: CLOSED, ecsCluster: 'prod', ecsServices: ['registry'], dryRun: true, timeoutMs: 2_000 },
      { aws },
    );
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
    expect(report.actions.find((a) => a.step === 'restart ECS service')?.result).toBe('planned');
  });
});

describe('deploy and rollback', () => {
  const definition = {
    family: 'registry',
    revision: 7,
    containerDefinitions: [{ name: 'registry', image: 'registry:1.0.0' }],
    cpu: '1024',
    memory: '2048',
  };

  it('backs up, registers the new image, updates the service and verifies health', async () => {
    ecsMock.on(DescribeServicesCommand).resolves(service(2, 2));
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: definition });
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: 'arn:registry:8' } });
    const backupDir = mkdtempSync(join(tmpdir(), 'ops-backup-'));
    const report = await deploy(
      { cluster: 'prod', service: 'registry', image: 'registry:1.1.0', backupDir, dryRun: false },
      { ecs: aws.ecs, confirm: async () => true, verify: async () => healthy, pause: noPause },
    );
    expect(report.outcome).toBe('deployed');
    expect(readdirSync(backupDir)).toEqual(['registry-7.json']);
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input.containerDefinitions?.[0]?.image).toBe(
      'registry:1.1.0',
    );
    expect(ecsMock.commandCalls(UpdateServiceCommand)[0]?.args[0].input.taskDefinition).toBe('arn:registry:8');
  });

  it('rolls back automatically when health verification fails', async () => {
    ecsMock.on(DescribeServicesCommand).resolves(service(2, 2));
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: definition });
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: 'arn:registry:8' } });
    const report = await deploy(
      {
        cluster: 'prod',
        service: 'registry',
        image: 'registry:broken',
        backupDir: mkdtempSync(join(tmpdir(), 'ops-')),
        dryRun: false,
      },
      { ecs: aws.ecs, confirm: async () => true, verify: async () => critical, pause: noPause },
    );
    expect(report.outcome).toBe('rolled-back');
    expect(ecsMock.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input.taskDefinition)).toEqual([
      'arn:registry:8',
      'arn:aws:ecs:us-east-1:123:task-definition/registry:7',
    ]);
  });

  it('changes nothing when not confirmed or in a dry run', async () => {
    ecsMock.on(DescribeServicesCommand).resolves(service(2, 2));
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: definition });
    const deps = { ecs: aws.ecs, confirm: async () => false, verify: async () => healthy, pause: noPause };
    const options = {
      cluster: 'prod',
      service: 'registry',
      image: 'registry:1.1.0',
      backupDir: mkdtempSync(join(tmpdir(), 'ops-')),
    };
    expect((await deploy({ ...options, dryRun: false }, deps)).outcome).toBe('cancelled');
    expect((await deploy({ ...options, dryRun: true }, deps)).outcome).toBe('planned');
    expect((await rollback({ cluster: 'prod', service: 'registry', dryRun: true }, deps)).outcome).toBe('planned');
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('rolls back to the previous revision and verifies health', async () => {
    ecsMock.on(DescribeServicesCommand).resolves(service(2, 2));
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: { ...definition, revision: 6 } });
    const report = await rollback(
      { cluster: 'prod', service: 'registry', dryRun: false },
      { ecs: aws.ecs, confirm: async () => true, verify: async () => healthy, pause: noPause },
    );
    expect(report).toMatchObject({ outcome: 'rolled-back', newTaskDefinition: 'registry:6' });
    expect(ecsMock.commandCalls(UpdateServiceCommand)[0]?.args[0].input.taskDefinition).toBe('registry:6');
  });
});
