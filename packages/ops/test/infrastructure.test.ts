import { readdirSync, readFileSync } from 'node:fs';
import { parse } from '@cdktf/hcl2json';
import {
  CHAOS_SERVICE_ENV,
  chaosFleet,
  DEFAULT_TIME_SCALE,
  DEREGISTRATION_DELAY_SECONDS,
  EXPERIMENTS,
  FIS_TAG,
  FIS_TEMPLATES,
  FIXED_HEALTH_CHECK,
  FLEET_EXPERIMENTS,
  LOCAL_ONLY,
  SHUTDOWN_DRAIN_DELAY_SECONDS,
} from '@registry/chaos';
import { buildApp, EMF_METRICS, isConfigError, loadConfig, SETTINGS } from '@registry/service';
import { beforeAll, describe, expect, it } from 'vitest';

const dir = new URL('../../../infrastructure/terraform/', import.meta.url);

interface Hcl {
  locals: {
    health_check: {
      path: string;
      healthy_threshold: number;
      unhealthy_threshold: number;
      timeout: number;
      interval: number;
      matcher: string;
    };
    registry_container_port: number;
    registry_environment: Record<string, string>;
    registry_secrets: Record<string, string>;
    registry_optional_secrets: Record<string, string>;
    registry_task_secrets: string;
    container_health_check: { path: string; start_period: number };
  };
  resource: Record<string, Record<string, Record<string, unknown>[]>>;
  data: Record<string, Record<string, Record<string, unknown>[]>>;
  variable: Record<string, unknown>;
}

let hcl: Hcl;

/** Values of the right shape for each setting Terraform reads from Secrets Manager. */
const SECRET_SAMPLES: Readonly<Record<string, string>> = {
  ADMIN_TOKEN: 'admin-token-of-32-characters-xxx',
  API_KEYS: 'client-key-0001,client-key-0002',
  API_READ_ONLY_KEYS: 'reader-key-0001',
  DATABASE_URL: 'postgres://registry@db.internal:5432/registry',
};

/** The settings the task starts with: plain environment plus a sample for each secret (optional ones too). */
function taskEnvironment(options: { without?: string } = {}): Record<string, string> {
  const secrets = [...Object.keys(hcl.locals.registry_secrets), ...Object.keys(hcl.locals.registry_optional_secrets)];
  return taskEnvironmentWith(secrets.filter((name) => name !== options.without));
}

/** The settings the task starts with when it gets the secrets `secrets` (by name). */
function taskEnvironmentWith(secrets: readonly string[]): Record<string, string> {
  return {
    ...hcl.locals.registry_environment,
    MLFLOW_TRACKING_URI: 'http://mlflow.internal:5000',
    TRUST_PROXY: '10.0.0.0/24,10.0.1.0/24',
    ...Object.fromEntries(secrets.map((name) => [name, SECRET_SAMPLES[name] ?? `no sample for ${name}`])),
  };
}

function configProblems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (isConfigError(error)) return error.problems;
    throw error;
  }
}

beforeAll(async () => {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.tf'))) {
    const parsed = (await parse(file, readFileSync(new URL(file, dir), 'utf8'))) as Record<string, unknown>;
    for (const [block, body] of Object.entries(parsed)) {
      const items = Array.isArray(body) ? body : [body];
      for (const item of items) {
        const entries = item as Record<string, unknown>;
        // Resources and data sources merge per type: iam.tf and fis.tf both declare aws_iam_role.
        const perType = block === 'resource' || block === 'data';
        merged[block] = perType
          ? Object.fromEntries(
              [...new Set([...Object.keys(merged[block] ?? {}), ...Object.keys(entries)])].map((type) => [
                type,
                { ...(merged[block]?.[type] as object), ...(entries[type] as object) },
              ]),
            )
          : { ...merged[block], ...entries };
      }
    }
  }
  const locals = (merged.locals ?? {}) as Record<string, unknown>;
  const flat = Object.fromEntries(Object.entries(locals).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
  hcl = {
    locals: flat as unknown as Hcl['locals'],
    resource: merged.resource as Hcl['resource'],
    data: (merged.data ?? {}) as Hcl['data'],
    variable: merged.variable ?? {},
  };
});

function resource(type: string, name: string): Record<string, unknown> {
  const found = hcl.resource[type]?.[name]?.[0];
  if (!found) throw new Error(`no resource ${type}.${name}`);
  return found;
}

/** The string hcl2json gives for an interpolated HCL expression: `ref('var.name')` is `"${var.name}"`. */
function ref(expression: string): string {
  return `\${${expression}}`;
}

function policyStatements(name: string): Record<string, unknown>[] {
  const found = hcl.data.aws_iam_policy_document?.[name]?.[0];
  if (!found) throw new Error(`no data.aws_iam_policy_document.${name}`);
  return found.statement as Record<string, unknown>[];
}

describe('Terraform contract', () => {
  it('points the target-group health check at a real route that answers 200', async () => {
    const app = buildApp({ config: loadConfig({ LOG_LEVEL: 'silent', MLFLOW_HEALTH_PROBE_INTERVAL: '0' }) });
    const response = await app.inject(hcl.locals.health_check.path);
    expect(response.statusCode).toBe(200);
    expect(hcl.locals.container_health_check.path).toBe(hcl.locals.health_check.path);
    await app.close();
  });

  it("uses the thresholds the chaos suite's HAProxy checks with", () => {
    const check = hcl.locals.health_check;
    expect({
      path: check.path,
      healthyThreshold: check.healthy_threshold,
      unhealthyThreshold: check.unhealthy_threshold,
      timeoutSeconds: check.timeout,
      intervalSeconds: check.interval,
    }).toEqual({
      path: FIXED_HEALTH_CHECK.path,
      healthyThreshold: FIXED_HEALTH_CHECK.healthyThreshold,
      unhealthyThreshold: FIXED_HEALTH_CHECK.unhealthyThreshold,
      timeoutSeconds: FIXED_HEALTH_CHECK.timeoutSeconds,
      intervalSeconds: FIXED_HEALTH_CHECK.intervalSeconds,
    });
    expect(check.matcher).toBe('200-299');
    expect(resource('aws_lb_target_group', 'registry').deregistration_delay).toBe(DEREGISTRATION_DELAY_SECONDS);
    expect(hcl.locals.registry_environment.SHUTDOWN_DRAIN_DELAY).toBe(String(SHUTDOWN_DRAIN_DELAY_SECONDS));
    // The chaos replicas drain for the same time, scaled like the checks.
    expect(Number(CHAOS_SERVICE_ENV.SHUTDOWN_DRAIN_DELAY)).toBe(SHUTDOWN_DRAIN_DELAY_SECONDS / DEFAULT_TIME_SCALE);
    // What HAProxy gets: the same check, 20 times faster (1500 ms is the 30 s interval, 500 ms the 10 s timeout).
    expect(chaosFleet({ timeScale: 20 }).loadBalancer).toEqual({
      path: check.path,
      intervalMs: (check.interval * 1000) / 20,
      timeoutMs: (check.timeout * 1000) / 20,
      rise: check.healthy_threshold,
      fall: check.unhealthy_threshold,
    });
  });

  it('sets only environment variables that the service reads', () => {
    const names = [
      ...Object.keys(hcl.locals.registry_environment),
      ...Object.keys(hcl.locals.registry_secrets),
      ...Object.keys(hcl.locals.registry_optional_secrets),
    ];
    expect(names.filter((name) => !(name in SETTINGS))).toEqual([]);
  });

  it('gives the service settings it accepts', () => {
    expect(configProblems(taskEnvironment())).toEqual([]);
  });

  it("trusts X-Forwarded-For from the ALB's subnets only, given as a variable", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Terraform's interpolation, compared as the HCL text
    expect(hcl.locals.registry_environment.TRUST_PROXY).toBe('${join(",", var.alb_subnet_cidrs)}');
    expect(hcl.variable).toHaveProperty('alb_subnet_cidrs');
  });

  it('reads API_KEYS from Secrets Manager, never from the plain environment', () => {
    expect(hcl.locals.registry_secrets.API_KEYS).toBe(ref('var.api_keys_secret_arn'));
    expect(hcl.variable).toHaveProperty('api_keys_secret_arn');
    expect(Object.keys(hcl.locals.registry_environment)).not.toContain('API_KEYS');
  });

  it('passes every secret setting of the service through Secrets Manager', () => {
    const secretNames = Object.entries(SETTINGS)
      .filter(([, spec]) => 'secret' in spec && spec.secret)
      .map(([name]) => name);
    expect(Object.keys(hcl.locals.registry_environment).filter((name) => secretNames.includes(name))).toEqual([]);
  });

  it('declares a variable for every secret ARN it passes', () => {
    for (const arn of [
      ...Object.values(hcl.locals.registry_secrets),
      ...Object.values(hcl.locals.registry_optional_secrets),
    ]) {
      const variable = /^\$\{var\.(\w+)\}$/.exec(arn)?.[1];
      expect(variable, arn).toBeDefined();
      expect(hcl.variable).toHaveProperty(variable as string);
    }
  });

  it('pairs ENVIRONMENT=production with API_KEYS in secrets and never allows anonymous clients', () => {
    expect(hcl.locals.registry_environment.ENVIRONMENT).toBe('production');
    expect(Object.keys(hcl.locals.registry_secrets)).toContain('API_KEYS');
    expect(hcl.locals.registry_environment.ALLOW_ANONYMOUS).toBeUndefined();
  });

  it('would not start in production if the API_KEYS secret were dropped', () => {
    const secrets = Object.keys(hcl.locals.registry_secrets).filter((name) => name !== 'API_KEYS');
    expect(configProblems(taskEnvironmentWith(secrets)).some((p) => p.startsWith('API_KEYS'))).toBe(true);
  });

  it('gives the task API_READ_ONLY_KEYS from Secrets Manager only when its variable names a secret', () => {
    expect(hcl.locals.registry_optional_secrets).toEqual({
      API_READ_ONLY_KEYS: ref('var.read_only_api_keys_secret_arn'),
    });
    expect(hcl.variable.read_only_api_keys_secret_arn).toEqual([expect.objectContaining({ default: null })]);
    expect(hcl.locals.registry_task_secrets).toBe(
      ref(
        'merge(local.registry_secrets, { for name, arn in local.registry_optional_secrets : name => arn if arn != null })',
      ),
    );
    expect(String(resource('aws_ecs_task_definition', 'registry').container_definitions)).toContain(
      'secrets      = [for key, arn in local.registry_task_secrets : { name = key, valueFrom = arn }]',
    );
    const secretSettings = Object.entries(SETTINGS).filter(([, spec]) => 'secret' in spec && spec.secret);
    for (const name of Object.keys(hcl.locals.registry_optional_secrets)) {
      expect(secretSettings.map(([setting]) => setting)).toContain(name);
    }
    // Without the optional secrets the task still starts.
    expect(configProblems(taskEnvironmentWith(Object.keys(hcl.locals.registry_secrets)))).toEqual([]);
  });

  it('lets the task execution role read exactly the secrets the task names', () => {
    expect(resource('aws_ecs_task_definition', 'registry').execution_role_arn).toBe(
      ref('aws_iam_role.registry_execution.arn'),
    );
    expect(resource('aws_iam_role', 'registry_execution').assume_role_policy).toBe(
      ref('data.aws_iam_policy_document.registry_execution_assume.json'),
    );
    expect(policyStatements('registry_execution_assume')).toEqual([
      { actions: ['sts:AssumeRole'], principals: [{ type: 'Service', identifiers: ['ecs-tasks.amazonaws.com'] }] },
    ]);
    expect(resource('aws_iam_role_policy', 'registry_secrets')).toMatchObject({
      role: ref('aws_iam_role.registry_execution.id'),
      policy: ref('data.aws_iam_policy_document.registry_secrets.json'),
    });
    expect(policyStatements('registry_secrets')).toEqual([
      { actions: ['secretsmanager:GetSecretValue'], resources: ref('values(local.registry_task_secrets)') },
    ]);
  });

  it('exposes the container port the service listens on', () => {
    expect(String(hcl.locals.registry_container_port)).toBe(
      hcl.locals.registry_environment.PORT ?? SETTINGS.PORT.default,
    );
  });

  it('sizes and deploys the task as the fix specifies', () => {
    const task = resource('aws_ecs_task_definition', 'registry');
    const service = resource('aws_ecs_service', 'registry');
    expect([task.cpu, task.memory]).toEqual([1024, 2048]);
    expect(hcl.locals.container_health_check.start_period).toBe(60);
    expect(service).toMatchObject({
      desired_count: 2,
      deployment_maximum_percent: 200,
      deployment_minimum_healthy_percent: 100,
    });
    expect(service.deployment_circuit_breaker).toEqual([{ enable: true, rollback: true }]);
  });

  it('alarms only on custom metrics the service publishes', () => {
    const alarms = Object.values(hcl.resource.aws_cloudwatch_metric_alarm ?? {}).map(
      (a) => a[0] as Record<string, unknown>,
    );
    const custom = alarms.filter((a) => a.namespace !== 'AWS/ApplicationELB');
    expect(custom.length).toBeGreaterThan(0);
    for (const alarm of custom) expect(Object.values(EMF_METRICS)).toContain(alarm.metric_name);
    expect(hcl.locals.registry_environment.CLOUDWATCH_EMF_ENABLED).toBe('true');
  });

  it('defines the four alarms with their thresholds', () => {
    const alarm = (name: string) => resource('aws_cloudwatch_metric_alarm', name);
    expect(alarm('unhealthy_targets')).toMatchObject({
      metric_name: 'UnHealthyHostCount',
      threshold: 0,
      period: 60,
      evaluation_periods: 2,
    });
    expect(alarm('target_5xx')).toMatchObject({ metric_name: 'HTTPCode_Target_5XX_Count', threshold: 10, period: 60 });
    expect(alarm('response_time')).toMatchObject({ metric_name: 'TargetResponseTime', threshold: 5 });
    expect(alarm('breaker_open')).toMatchObject({
      metric_name: 'CircuitBreakerOpen',
      period: 60,
      evaluation_periods: 5,
    });
  });
});

interface FisFault {
  mirrors: string;
  action: string;
  selection: string;
  description: string;
}

describe('AWS FIS templates (fis.tf)', () => {
  const faults = () => (hcl.locals as unknown as { fis_faults: Record<string, FisFault> }).fis_faults;

  it('has one template for each FIS fault the chaos suite runs, with the same action and mirrored experiment', () => {
    expect(
      Object.entries(faults()).map(([template, fault]) => ({ template, action: fault.action, mirrors: fault.mirrors })),
    ).toEqual(
      expect.arrayContaining(FIS_TEMPLATES.map(({ template, action, mirrors }) => ({ template, action, mirrors }))),
    );
    expect(Object.keys(faults()).sort()).toEqual(FIS_TEMPLATES.map((t) => t.template).sort());
  });

  it('mirrors the local fault list: every local experiment has a template or a stated reason why not', () => {
    const local = [...EXPERIMENTS, ...FLEET_EXPERIMENTS].map((experiment) => experiment.id);
    const mirrored = FIS_TEMPLATES.map((t) => t.mirrors);
    expect(mirrored.filter((id) => !local.includes(id))).toEqual([]);
    expect(local.filter((id) => !mirrored.includes(id) && !(id in LOCAL_ONLY))).toEqual([]);
    expect(Object.keys(LOCAL_ONLY).filter((id) => mirrored.includes(id) || !local.includes(id))).toEqual([]);
  });

  it("targets the registry service's tasks, which run its task definition with fault injection enabled", () => {
    const template = resource('aws_fis_experiment_template', 'registry');
    expect(template.for_each).toBe(ref('local.fis_faults'));
    const target = (template.target as Record<string, unknown>[])[0];
    expect(target).toMatchObject({
      resource_type: 'aws:ecs:task',
      selection_mode: ref('each.value.selection'),
      parameters: { cluster: ref('var.ecs_cluster_arn'), service: ref('aws_ecs_service.registry.name') },
    });
    expect(resource('aws_ecs_service', 'registry').task_definition).toBe(ref('aws_ecs_task_definition.registry.arn'));
    expect(resource('aws_ecs_task_definition', 'registry').enable_fault_injection).toBe(true);
    expect(template.tags).toMatchObject({
      [FIS_TAG]: ref('each.value.mirrors'),
      'task-definition': ref('aws_ecs_task_definition.registry.family'),
    });
  });

  it("stops every experiment on each alarm the project defines, except target 5xx, which counts the breaker's designed 503s", () => {
    const alarms = Object.keys(hcl.resource.aws_cloudwatch_metric_alarm ?? {});
    const stops = (hcl.locals as unknown as { fis_stop_alarms: Record<string, string> }).fis_stop_alarms;
    expect(alarms.length).toBe(4);
    expect(stops).toEqual(
      Object.fromEntries(
        alarms
          .filter((name) => name !== 'target_5xx')
          .map((name) => [name, ref(`aws_cloudwatch_metric_alarm.${name}.arn`)]),
      ),
    );
    const template = resource('aws_fis_experiment_template', 'registry');
    const dynamicBlocks = template.dynamic as Record<string, Record<string, unknown>[]>;
    const stopCondition = dynamicBlocks.stop_condition?.[0];
    expect(stopCondition).toMatchObject({
      for_each: ref('local.fis_stop_alarms'),
      content: [{ source: 'aws:cloudwatch:alarm', value: ref('stop_condition.value') }],
    });
  });

  it('lets FIS act on ECS tasks and nothing else', () => {
    const role = resource('aws_iam_role', 'fis');
    expect(String(role.assume_role_policy)).toContain('fis.amazonaws.com');
    expect(resource('aws_iam_role_policy_attachment', 'fis_ecs')).toMatchObject({
      role: ref('aws_iam_role.fis.name'),
      policy_arn: 'arn:aws:iam::aws:policy/service-role/AWSFaultInjectionSimulatorECSAccess',
    });
  });
});
