import { readdirSync, readFileSync } from 'node:fs';
import { parse } from '@cdktf/hcl2json';
import { FIXED_HEALTH_CHECK } from '@registry/chaos';
import { buildApp, EMF_METRICS, loadConfig, SETTINGS } from '@registry/service';
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
    container_health_check: { path: string; start_period: number };
  };
  resource: Record<string, Record<string, Record<string, unknown>[]>>;
}

let hcl: Hcl;

beforeAll(async () => {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.tf'))) {
    const parsed = (await parse(file, readFileSync(new URL(file, dir), 'utf8'))) as Record<string, unknown>;
    for (const [block, body] of Object.entries(parsed)) {
      const items = Array.isArray(body) ? body : [body];
      for (const item of items) merged[block] = { ...merged[block], ...(item as Record<string, unknown>) };
    }
  }
  const locals = (merged.locals ?? {}) as Record<string, unknown>;
  const flat = Object.fromEntries(Object.entries(locals).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
  hcl = { locals: flat as unknown as Hcl['locals'], resource: merged.resource as Hcl['resource'] };
});

function resource(type: string, name: string): Record<string, unknown> {
  const found = hcl.resource[type]?.[name]?.[0];
  if (!found) throw new Error(`no resource ${type}.${name}`);
  return found;
}

describe('Terraform contract', () => {
  it('points the target-group health check at a real route that answers 200', async () => {
    const app = buildApp({ config: loadConfig({ LOG_LEVEL: 'silent', MLFLOW_HEALTH_PROBE_INTERVAL: '0' }) });
    const response = await app.inject(hcl.locals.health_check.path);
    expect(response.statusCode).toBe(200);
    expect(hcl.locals.container_health_check.path).toBe(hcl.locals.health_check.path);
    await app.close();
  });

  it('uses the thresholds the chaos suite simulates', () => {
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
    expect(resource('aws_lb_target_group', 'registry').deregistration_delay).toBe(30);
  });

  it('sets only environment variables that the service reads', () => {
    const names = [...Object.keys(hcl.locals.registry_environment), ...Object.keys(hcl.locals.registry_secrets)];
    expect(names.filter((name) => !(name in SETTINGS))).toEqual([]);
  });

  it('gives the service settings it accepts', () => {
    expect(() =>
      loadConfig({ ...hcl.locals.registry_environment, MLFLOW_TRACKING_URI: 'http://mlflow.internal:5000' }),
    ).not.toThrow();
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
