import { type BreakerReport, createRegistryClient, METRICS, type RegistryClient } from '@registry/service/client';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type AwsClients, describeServices, describeTargets } from './aws.js';

/**
 * Stable machine ids of the checks: `recover` and the recommendations find checks by these, never by
 * their display names, and `--json` output carries them.
 */
export const CHECK_IDS = {
  apiReachable: 'api-reachable',
  live: 'live',
  ready: 'ready',
  health: 'health',
  status: 'status',
  mlflowHealth: 'mlflow-health',
  metrics: 'metrics',
  breaker: 'breaker',
  registryApi: 'registry-api',
  mlflowDirect: 'mlflow-direct',
  postgres: 'postgres',
  redis: 'redis',
  awsTargets: 'aws-targets',
  awsEcs: 'aws-ecs',
} as const;

/** The id of one diagnostic check. */
export type CheckId = (typeof CHECK_IDS)[keyof typeof CHECK_IDS];

/** Status of one diagnostic check. */
export type CheckStatus = 'healthy' | 'degraded' | 'unhealthy' | 'recovering' | 'skipped' | 'error';

/** One diagnostic check with its timing. */
export interface DiagnosticCheck {
  /** Stable machine id (match on this). */
  readonly id: CheckId;
  /** Display name (may change). */
  readonly name: string;
  readonly status: CheckStatus;
  /** A critical check not healthy makes the verdict critical (exit 2). */
  readonly critical: boolean;
  readonly durationMs: number;
  readonly summary: string;
  readonly details?: unknown;
}

/** The verdict of `diagnose`. */
export interface Diagnosis {
  readonly at: string;
  readonly apiUrl: string;
  readonly checks: readonly DiagnosticCheck[];
  /** Checks passed / checks run (skipped ones do not count), as a percentage. */
  readonly healthScore: number;
  readonly overall: 'healthy' | 'degraded' | 'critical';
  /** 0 healthy, 1 degraded, 2 critical. */
  readonly exitCode: 0 | 1 | 2;
  readonly criticalIssues: readonly string[];
  readonly warnings: readonly string[];
  readonly recommendations: readonly string[];
}

/** Where to look and with which credentials. */
export interface DiagnoseOptions {
  readonly apiUrl: string;
  readonly apiKey?: string;
  readonly mlflowUrl?: string;
  readonly databaseUrl?: string;
  readonly redisUrl?: string;
  readonly ecsCluster?: string;
  readonly ecsServices?: readonly string[];
  readonly targetGroupArns?: readonly string[];
  /** Per-check timeout. */
  readonly timeoutMs?: number;
}

/** Side effects, injectable for tests: AWS clients (absent: AWS checks are skipped). */
export interface DiagnoseDeps {
  readonly aws?: AwsClients;
}

interface Outcome {
  status: CheckStatus;
  summary: string;
  critical?: boolean;
  details?: unknown;
}

async function timed(
  id: CheckId,
  name: string,
  critical: boolean,
  run: () => Promise<Outcome>,
): Promise<DiagnosticCheck> {
  const started = performance.now();
  try {
    const outcome = await run();
    return {
      id,
      name,
      status: outcome.status,
      critical: outcome.critical ?? critical,
      durationMs: Math.round(performance.now() - started),
      summary: outcome.summary,
      details: outcome.details,
    };
  } catch (error) {
    return {
      id,
      name,
      status: 'error',
      critical,
      durationMs: Math.round(performance.now() - started),
      summary: error instanceof Error ? error.message : String(error),
    };
  }
}

/** Runs every check and builds the verdict, issues and recommendations. Read-only: it changes nothing. */
export async function diagnose(options: DiagnoseOptions, deps: DiagnoseDeps = {}): Promise<Diagnosis> {
  const api = options.apiUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const checks: DiagnosticCheck[] = [];
  const service: RegistryClient = createRegistryClient({ baseUrl: api, apiKey: options.apiKey, timeoutMs });

  const reachable = await timed(CHECK_IDS.apiReachable, 'api reachable', true, async () => {
    const live = await service.live();
    return live.status === 200
      ? { status: 'healthy', summary: `${api} answers` }
      : { status: 'unhealthy', summary: `/health/live answered ${live.status}` };
  });
  checks.push(reachable);

  let breaker: BreakerReport | undefined;
  if (reachable.status === 'healthy') {
    checks.push(
      await timed(CHECK_IDS.live, 'GET /health/live', true, async () => {
        const r = await service.live();
        return r.status === 200
          ? { status: 'healthy', summary: `200, uptime ${r.body.uptime_seconds} s`, details: r.body }
          : { status: 'unhealthy', summary: `${r.status}`, details: r.body };
      }),
      await timed(CHECK_IDS.ready, 'GET /health/ready', true, async () => {
        const r = await service.ready();
        if (r.status !== 200) return { status: 'unhealthy', summary: `${r.status}: not ready`, details: r.body };
        return r.body.degraded_mode
          ? { status: 'degraded', summary: '200, ready in degraded mode', critical: false, details: r.body }
          : { status: 'healthy', summary: '200, ready', details: r.body };
      }),
      await timed(CHECK_IDS.health, 'GET /health', false, async () => {
        const r = await service.health({ detailed: 'true' });
        if (r.status !== 200) return { status: 'unhealthy', summary: `${r.status}`, details: r.body };
        const { status } = r.body;
        return {
          status: status === 'healthy' ? 'healthy' : status === 'degraded' ? 'degraded' : 'unhealthy',
          summary: `status ${status}, services ${JSON.stringify(r.body.services)}`,
          details: r.body,
        };
      }),
      await timed(CHECK_IDS.status, 'GET /health/status', false, async () => {
        const r = await service.status();
        if (r.status !== 200) return { status: 'unhealthy', summary: `${r.status}`, details: r.body };
        breaker = r.body.circuit_breaker;
        return {
          status: 'healthy',
          summary: `health score ${r.body.health_score} %, version ${r.body.version}`,
          details: r.body,
        };
      }),
      await timed(CHECK_IDS.mlflowHealth, 'GET /health/mlflow', false, async () => {
        const r = await service.mlflowHealth();
        if (r.status === 200) return { status: 'healthy', summary: `connected, ${r.body.latency_ms ?? '?'} ms` };
        const body: { error?: string; message?: string } = r.body;
        return {
          status: 'unhealthy',
          summary: `${r.status}: ${body.error ?? body.message ?? 'not connected'}`,
          details: r.body,
        };
      }),
      await timed(CHECK_IDS.metrics, 'GET /metrics', false, async () => {
        const state = (await service.metrics()).value(METRICS.breakerState);
        return Number.isNaN(state)
          ? { status: 'unhealthy', summary: `${METRICS.breakerState} missing` }
          : { status: 'healthy', summary: `${METRICS.breakerState} ${state}` };
      }),
      await timed(CHECK_IDS.breaker, 'circuit breaker', true, async () => {
        if (!breaker) return { status: 'error', summary: '/health/status did not report the breaker' };
        if (breaker.state === 'closed')
          return { status: 'healthy', summary: `closed, ${breaker.trips_total} trips since start`, details: breaker };
        const retry = `next trial in ${breaker.time_until_retry_seconds} s`;
        return breaker.state === 'half_open'
          ? { status: 'recovering', summary: `half-open (recovering), ${retry}`, details: breaker }
          : { status: 'unhealthy', summary: `open: MLflow calls are refused, ${retry}`, details: breaker };
      }),
    );
    if (options.apiKey !== undefined) {
      checks.push(
        await timed(CHECK_IDS.registryApi, 'registry API with key', false, async () => {
          const r = await service.models.search({ max_results: '1' });
          return r.status === 200
            ? { status: 'healthy', summary: 'authorized read' }
            : { status: 'degraded', summary: `${r.status}` };
        }),
      );
    }
  }

  checks.push(
    await timed(CHECK_IDS.mlflowDirect, 'MLflow (direct REST call)', true, async () => {
      if (!options.mlflowUrl) return { status: 'skipped', summary: 'no --mlflow-url' };
      const url = `${options.mlflowUrl.replace(/\/+$/, '')}/api/2.0/mlflow/registered-models/search?max_results=1`;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        await response.body?.cancel();
        return response.status === 200
          ? { status: 'healthy', summary: 'registered-models/search answered 200' }
          : { status: 'unhealthy', summary: `answered ${response.status}` };
      } catch (error) {
        return { status: 'unhealthy', summary: `unreachable: ${(error as Error).message}` };
      }
    }),
    await timed(CHECK_IDS.postgres, 'PostgreSQL', true, async () => {
      if (!options.databaseUrl) return { status: 'skipped', summary: 'no --database-url' };
      const client = new pg.Client({ connectionString: options.databaseUrl, connectionTimeoutMillis: timeoutMs });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return { status: 'healthy', summary: 'SELECT 1 answered' };
      } catch (error) {
        return { status: 'unhealthy', summary: (error as Error).message || 'connection failed' };
      } finally {
        await client.end().catch(() => {});
      }
    }),
    await timed(CHECK_IDS.redis, 'Redis', false, async () => {
      if (!options.redisUrl) return { status: 'skipped', summary: 'no --redis-url' };
      const redis = new Redis(options.redisUrl, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        connectTimeout: timeoutMs,
        retryStrategy: () => null,
      });
      redis.on('error', () => {});
      try {
        await redis.connect();
        return { status: (await redis.ping()) === 'PONG' ? 'healthy' : 'degraded', summary: 'PING answered' };
      } catch (error) {
        return { status: 'degraded', summary: (error as Error).message || 'connection failed' };
      } finally {
        redis.disconnect();
      }
    }),
    await timed(CHECK_IDS.awsTargets, 'AWS target health', true, async () => {
      if (!deps.aws) return { status: 'skipped', summary: 'no AWS credentials' };
      if (!options.targetGroupArns?.length) return { status: 'skipped', summary: 'no --target-group-arn' };
      const targets = await describeTargets(deps.aws.elb, options.targetGroupArns);
      const unhealthy = targets.filter((t) => t.state !== 'healthy');
      return unhealthy.length === 0
        ? { status: 'healthy', summary: `${targets.length} targets healthy`, details: targets }
        : {
            status: 'unhealthy',
            summary: `${unhealthy.length} of ${targets.length} targets not healthy: ${unhealthy.map((t) => `${t.id} ${t.state}${t.reason ? ` (${t.reason})` : ''}`).join(', ')}`,
            details: targets,
          };
    }),
    await timed(CHECK_IDS.awsEcs, 'AWS ECS services', true, async () => {
      if (!deps.aws) return { status: 'skipped', summary: 'no AWS credentials' };
      if (!options.ecsCluster || !options.ecsServices?.length)
        return { status: 'skipped', summary: 'no --ecs-cluster / --ecs-service' };
      const services = await describeServices(deps.aws.ecs, options.ecsCluster, options.ecsServices);
      const short = services.filter((s) => s.running < s.desired);
      const down = short.filter((s) => s.running === 0);
      if (short.length === 0)
        return {
          status: 'healthy',
          summary: services.map((s) => `${s.name} ${s.running}/${s.desired}`).join(', '),
          details: services,
        };
      return {
        status: down.length > 0 ? 'unhealthy' : 'degraded',
        critical: down.length > 0,
        summary: short.map((s) => `${s.name} running ${s.running} of ${s.desired}`).join(', '),
        details: services,
      };
    }),
  );

  return verdict(api, checks, breaker);
}

function verdict(apiUrl: string, checks: DiagnosticCheck[], breaker: BreakerReport | undefined): Diagnosis {
  const run = checks.filter((c) => c.status !== 'skipped');
  const passed = run.filter((c) => c.status === 'healthy').length;
  const criticalIssues = run.filter((c) => c.critical && c.status !== 'healthy').map((c) => `${c.name}: ${c.summary}`);
  const warnings = run
    .filter((c) => !(c.critical && c.status !== 'healthy') && c.status !== 'healthy')
    .map((c) => `${c.name}: ${c.summary}`);
  const recommendations: string[] = [];
  const statusOf = (id: CheckId) => checks.find((c) => c.id === id)?.status;
  if (statusOf(CHECK_IDS.apiReachable) !== 'healthy') {
    recommendations.push('The API does not answer: check the tasks/processes and the load balancer listener.');
  }
  if (breaker && breaker.state !== 'closed') {
    recommendations.push(
      statusOf(CHECK_IDS.mlflowDirect) === 'healthy'
        ? 'MLflow answers again but the breaker is not closed: `registry-ops recover` resets it (needs --admin-token).'
        : 'MLflow is failing: fix MLflow; the service stays available in degraded mode and the breaker closes by itself.',
    );
  }
  if (statusOf(CHECK_IDS.awsEcs) === 'degraded' || statusOf(CHECK_IDS.awsEcs) === 'unhealthy') {
    recommendations.push('ECS runs fewer tasks than desired: `registry-ops recover` forces a new deployment.');
  }
  if (statusOf(CHECK_IDS.awsTargets) === 'unhealthy') {
    recommendations.push(
      'Targets are unhealthy: the health check path must be /health/live; check security groups and task logs.',
    );
  }
  if (statusOf(CHECK_IDS.postgres) === 'unhealthy')
    recommendations.push('PostgreSQL is down: readiness fails until it is back.');
  const overall = criticalIssues.length > 0 ? 'critical' : warnings.length > 0 ? 'degraded' : 'healthy';
  return {
    at: new Date().toISOString(),
    apiUrl,
    checks,
    healthScore: run.length === 0 ? 0 : Math.round((passed / run.length) * 1000) / 10,
    overall,
    exitCode: overall === 'critical' ? 2 : overall === 'degraded' ? 1 : 0,
    criticalIssues,
    warnings,
    recommendations,
  };
}

/** A readable summary of a diagnosis. */
export function formatDiagnosis(diagnosis: Diagnosis, verbose = false): string {
  const icon: Record<CheckStatus, string> = {
    healthy: 'ok  ',
    degraded: 'WARN',
    unhealthy: 'FAIL',
    recovering: 'WAIT',
    skipped: 'skip',
    error: 'ERR ',
  };
  const lines = [`registry-ops diagnose ${diagnosis.apiUrl} at ${diagnosis.at}`, ''];
  for (const check of diagnosis.checks) {
    lines.push(
      `  ${icon[check.status]} ${check.name.padEnd(28)} ${String(check.durationMs).padStart(5)} ms  ${check.summary}`,
    );
    if (verbose && check.details !== undefined) lines.push(`       ${JSON.stringify(check.details)}`);
  }
  lines.push('', `overall: ${diagnosis.overall.toUpperCase()}  health score ${diagnosis.healthScore} %`);
  if (diagnosis.criticalIssues.length)
    lines.push('', 'critical issues:', ...diagnosis.criticalIssues.map((i) => `  - ${i}`));
  if (diagnosis.warnings.length) lines.push('', 'warnings:', ...diagnosis.warnings.map((w) => `  - ${w}`));
  if (diagnosis.recommendations.length)
    lines.push('', 'recommendations:', ...diagnosis.recommendations.map((r) => `  - ${r}`));
  return lines.join('\n');
}
