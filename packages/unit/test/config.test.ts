import { type ConfigError, isConfigError, loadConfig, SETTINGS } from '@registry/service';
import { describe, expect, it } from 'vitest';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (isConfigError(error)) return error;
    throw error;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('returns the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 8000,
      mlflow: { trackingUri: 'http://localhost:5000', requestTimeoutMs: 10_000, healthProbeIntervalMs: 10_000 },
      breaker: {
        failureThreshold: 3,
        recoveryTimeoutMs: 30_000,
        maxRecoveryAttempts: 3,
        backoffMultiplier: 2,
        maxRecoveryTimeoutMs: 300_000,
        halfOpenSuccesses: 2,
      },
      auth: { adminToken: undefined, apiKeys: [] },
      databaseUrl: undefined,
      redisUrl: undefined,
    });
  });

  it('treats an explicit 0 as a value, not as unset', () => {
    const config = loadConfig({
      MLFLOW_CB_FAILURE_THRESHOLD: '0',
      MLFLOW_HEALTH_PROBE_INTERVAL: '0',
      MLFLOW_CB_RECOVERY_TIMEOUT: '0',
      PORT: '0',
    });
    expect(config.breaker.failureThreshold).toBe(0);
    expect(config.mlflow.healthProbeIntervalMs).toBe(0);
    expect(config.breaker.recoveryTimeoutMs).toBe(0);
    expect(config.port).toBe(0);
  });

  it('accepts fractional seconds', () => {
    const config = loadConfig({ MLFLOW_REQUEST_TIMEOUT: '0.25', MLFLOW_CB_RECOVERY_TIMEOUT: '1.5' });
    expect(config.mlflow.requestTimeoutMs).toBe(250);
    expect(config.breaker.recoveryTimeoutMs).toBe(1500);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '', ADMIN_TOKEN: '  ' })).toMatchObject({ port: 8000, auth: { adminToken: undefined } });
  });

  it('lists every bad variable in one error', () => {
    const error = configError({
      PORT: '99999',
      MLFLOW_REQUEST_TIMEOUT: 'ten',
      MLFLOW_TRACKING_URI: 'ftp://x',
      LOG_LEVEL: 'loud',
    });
    expect(error.problems).toHaveLength(4);
    expect(error.message).toContain('PORT: expected a whole number from 0 to 65535 (got "99999")');
    expect(error.message).toContain('MLFLOW_REQUEST_TIMEOUT: expected a number of seconds above 0');
    expect(error.message).toContain('MLFLOW_TRACKING_URI: expected a URL starting with http:// or https://');
    expect(error.message).toContain('LOG_LEVEL: expected one of');
  });

  it('rejects a zero request timeout', () => {
    expect(configError({ MLFLOW_REQUEST_TIMEOUT: '0' }).problems).toEqual([
      'MLFLOW_REQUEST_TIMEOUT: expected a number of seconds above 0, at most 2147483 (got "0")',
    ]);
  });

  it('rejects a cap below the base recovery timeout', () => {
    const error = configError({ MLFLOW_CB_RECOVERY_TIMEOUT: '60', MLFLOW_CB_MAX_RECOVERY_TIMEOUT: '30' });
    expect(error.problems).toEqual([
      'MLFLOW_CB_MAX_RECOVERY_TIMEOUT: expected a value of at least MLFLOW_CB_RECOVERY_TIMEOUT',
    ]);
  });

  it('never echoes a secret in its error', () => {
    const error = configError({ ADMIN_TOKEN: 'short', DATABASE_URL: 'mysql://user:hunter2@db/x' });
    expect(error.message).not.toContain('hunter2');
    expect(error.message).not.toContain('short');
    expect(error.problems).toHaveLength(2);
  });

  it('splits API_KEYS on commas', () => {
    expect(loadConfig({ API_KEYS: 'key-one-123, key-two-456' }).auth.apiKeys).toEqual(['key-one-123', 'key-two-456']);
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.breaker)).toBe(true);
  });

  it('describes every setting it reads', () => {
    for (const spec of Object.values(SETTINGS)) expect(spec.description.length).toBeGreaterThan(10);
  });
});
