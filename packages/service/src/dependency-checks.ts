import { Redis } from 'ioredis';
import pg from 'pg';

/** A dependency whose health the service reports (PostgreSQL, Redis); `check` rejects while it is down. */
export interface DependencyCheck {
  readonly name: string;
  /** A critical dependency down makes readiness 503; a non-critical one only degrades. */
  readonly critical: boolean;
  check(): Promise<void>;
  close(): Promise<void>;
}

/** Checks PostgreSQL with `SELECT 1` over a small pool (critical). */
export function createPostgresCheck(url: string, timeoutMs: number): DependencyCheck {
  const pool = new pg.Pool({
    connectionString: url,
    max: 2,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    idleTimeoutMillis: 10_000,
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled it would crash the process.
  pool.on('error', () => {});
  return {
    name: 'postgres',
    critical: true,
    async check() {
      await pool.query('SELECT 1');
    },
    close: () => pool.end(),
  };
}

/** Checks Redis with PING (non-critical); commands fail at once while it is disconnected. */
export function createRedisCheck(url: string, timeoutMs: number): DependencyCheck {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // Connection errors surface through failed checks; without a listener ioredis would log them as unhandled.
  redis.on('error', () => {});
  return {
    name: 'redis',
    critical: false,
    async check() {
      if (redis.status === 'wait') await redis.connect();
      await redis.ping();
    },
    async close() {
      redis.disconnect();
    },
  };
}

/** Resolves as `promise` does, or rejects after `ms` with a message naming `what`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The dependency checks a configuration asks for: PostgreSQL (critical) and Redis (non-critical) when set. */
export function createDependencyChecks(config: {
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly healthCheckTimeoutMs: number;
}): DependencyCheck[] {
  const checks: DependencyCheck[] = [];
  if (config.databaseUrl) checks.push(createPostgresCheck(config.databaseUrl, config.healthCheckTimeoutMs));
  if (config.redisUrl) checks.push(createRedisCheck(config.redisUrl, config.healthCheckTimeoutMs));
  return checks;
}
