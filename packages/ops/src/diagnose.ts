import { Redis } from 'ioredis';
import pg from 'pg';
import { type AwsClients, describeServices, describeTargets } from './aws.js';

/** Status of one diagnostic check. */
export type CheckStatus = 'healthy' | 'degraded' | 'unhealthy' | 'recovering' | 'skipped' | 'error';

/** One diagnostic check with its timing. */
export interface DiagnosticCheck {
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

async function timed(name: string, critical: boolean, run: () => Promise<Outcome>): Promise<DiagnosticCheck> {
  const started = performance.now();
  try {
    const outcome = await run();
    return {
      name,
      status: outcome.status,
      critical: outcome.critical ?? critical,
      durationMs: Math.round(performance.now() - started),
      summary: outcome.summary,
      details: outcome.details,
    };
  } catch (error) {
    return {
      name,
      status: 'error',
      critical,
      durationMs: Math.round(performance.now() - started),
      summary: error instanceof Error ? error.message : String(error),
    };
  }
}

async function getJson(url: string, timeoutMs: number, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text, retryAfter: response.headers.get('retry-after') };
}

interface BreakerReport {
  state: string;
  time_until_retry_seconds: number;
  failure_count: number;
  trips_total: number;
}

/** Runs every check and builds the verdict, issues and recommendations. Read-only: it changes nothing. */
export async function diagnose(options: DiagnoseOptions, deps: DiagnoseDeps = {}): Promise<Diagnosis> {
  const api = options.apiUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const checks: DiagnosticCheck[] = [];
  const keyHeader: Record<string, string> = options.apiKey ? { 'x-api-key': options.apiKey } : {};

  const reachable = await timed('api reachable', true, async () => {
    const live = await getJson(`${api}/health/live`, timeoutMs);
    return live.status === 200
      ? { status: 'healthy', summary: `${api} answers` }
      : { status: 'unhealthy', summary: `/health/live answered ${live.status}` };
  });
  checks.push(reachable);

  let breaker: BreakerReport | undefined;
  if (reachable.status === 'healthy') {
    checks.push(
      await timed('GET /health/live', true, async () => {
        const r = await getJson(`${api}/health/live`, timeoutMs);
        return {
          status: r.status === 200 ? 'healthy' : 'unhealthy',
          summary: `${r.status}, uptime ${r.body?.uptime_seconds ?? '?'} s`,
          details: r.body,
        };
      }),
      await timed('GET /health/ready', true, async () => {
        const r = await getJson(`${api}/health/ready`, timeoutMs);
        if (r.status !== 200) return { status: 'unhealthy', summary: `${r.status}: not ready`, details: r.body };
        return r.body?.degraded_mode
          ? { status: 'degraded', summary: '200, ready in degraded mode', critical: false, details: r.body }
          : { status: 'healthy', summary: '200, ready', details: r.body };
      }),
      await timed('GET /health', false, async () => {
        const r = await getJson(`${api}/health?detailed=true`, timeoutMs);
        const status = String(r.body?.status ?? 'unknown');
        return {
          status: status === 'healthy' ? 'healthy' : status === 'degraded' ? 'degraded' : 'unhealthy',
          summary: `status ${status}, services ${JSON.stringify(r.body?.services ?? {})}`,
          details: r.body,
        };
      }),
      await timed('GET /health/status', false, async () => {
        const r = await getJson(`${api}/health/status`, timeoutMs);
        breaker = r.body?.circuit_breaker as BreakerReport | undefined;
        return {
          status: r.status === 200 ? 'healthy' : 'unhealthy',
          summary: `health score ${r.body?.health_score ?? '?'} %, version ${r.body?.version ?? '?'}`,
          details: r.body,
        };
      }),
      await timed('GET /health/mlflow', false, async () => {
        const r = await getJson(`${api}/health/mlflow`, timeoutMs);
        return r.status === 200
          ? { status: 'healthy', summary: `connected, ${r.body?.latency_ms ?? '?'} ms` }
          : { status: 'unhealthy', summary: `${r.status}: ${r.body?.error ?? 'not connected'}`, details: r.body };
      }),
      await timed('GET /metrics', false, async () => {
        const r = await getJson(`${api}/metrics`, timeoutMs);
        const line = r.text.split('\n').find((l) => l.startsWith('registry_mlflow_circuit_breaker_state '));
        return r.status === 200 && line
          ? { status: 'healthy', summary: line }
          : { status: 'unhealthy', summary: `${r.status}: breaker metric missing` };
      }),
      await timed('circuit breaker', true, async () => {
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
        await timed('registry API with key', false, async () => {
          const r = await getJson(`${api}/api/v1/models?max_results=1`, timeoutMs, keyHeader);
          return r.status === 200
            ? { status: 'healthy', summary: 'authorized read' }
            : { status: 'degraded', summary: `${r.status}` };
        }),
      );
    }
  }

  checks.push(
    await timed('MLflow (direct REST call)', true, async () => {
      if (!options.mlflowUrl) return { status: 'skipped', summary: 'no --mlflow-url' };
      const url = `${options.mlflowUrl.replace(/\/+$/, '')}/api/2.0/mlflow/registered-models/search?max_results=1`;
      const r = await getJson(url, timeoutMs).catch((error: unknown) => ({ status: 0, error }));
      return r.status === 200
        ? { status: 'healthy', summary: 'registered-models/search answered 200' }
        : {
            status: 'unhealthy',
            summary:
              r.status === 0 ? `unreachable: ${(('error' in r && r.error) as Error).message}` : `answered ${r.status}`,
          };
    }),
    await timed('PostgreSQL', true, async () => {
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
    await timed('Redis', false, async () => {
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
    await timed('AWS target health', true, async () => {
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
    await timed('AWS ECS services', true, async () => {
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
  const byName = (name: string) => checks.find((c) => c.name === name);
  if (byName('api reachable')?.status !== 'healthy') {
    recommendations.push('The API does not answer: check the tasks/processes and the load balancer listener.');
  }
  if (breaker && breaker.state !== 'closed') {
    recommendations.push(
      byName('MLflow (direct REST call)')?.status === 'healthy'
        ? 'MLflow answers again but the breaker is not closed: `registry-ops recover` resets it (needs --admin-token).'
        : 'MLflow is failing: fix MLflow; the service stays available in degraded mode and the breaker closes by itself.',
    );
  }
  if (byName('AWS ECS services')?.status === 'degraded' || byName('AWS ECS services')?.status === 'unhealthy') {
    recommendations.push('ECS runs fewer tasks than desired: `registry-ops recover` forces a new deployment.');
  }
  if (byName('AWS target health')?.status === 'unhealthy') {
    recommendations.push(
      'Targets are unhealthy: the health check path must be /health/live; check security groups and task logs.',
    );
  }
  if (byName('PostgreSQL')?.status === 'unhealthy')
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
