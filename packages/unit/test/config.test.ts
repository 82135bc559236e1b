import { type ConfigError, isConfigError, loadConfig, PROXY_MODES, SETTINGS } from '@registry/service';
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
      auth: { adminToken: undefined, apiKeys: [], readOnlyApiKeys: [] },
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

  it('splits API_READ_ONLY_KEYS on commas and refuses a key that is in API_KEYS too', () => {
    const config = loadConfig({ API_KEYS: 'writer-key-1', API_READ_ONLY_KEYS: 'reader-key-1, reader-key-2' });
    expect(config.auth).toMatchObject({ apiKeys: ['writer-key-1'], readOnlyApiKeys: ['reader-key-1', 'reader-key-2'] });
    // Both lists at once would leave the key's access to the order they are compared in.
    expect(configError({ API_KEYS: 'shared-key-1', API_READ_ONLY_KEYS: 'reader-key-1,shared-key-1' }).problems).toEqual(
      ['API_READ_ONLY_KEYS: expected keys that are not also in API_KEYS'],
    );
  });

  it('reads MLFLOW_ALLOWED_SOURCES as prefixes and refuses one that does not end in /', () => {
    expect(loadConfig({ MLFLOW_ALLOWED_SOURCES: 's3://models/, runs:/' }).mlflow.allowedSources).toEqual([
      's3://models/',
      'runs:/',
    ]);
    expect(loadConfig({}).mlflow.allowedSources).toBeUndefined();
    // Without the final slash, s3://models would admit s3://models-of-someone-else/.
    expect(() => loadConfig({ MLFLOW_ALLOWED_SOURCES: 's3://models' })).toThrow(/MLFLOW_ALLOWED_SOURCES/);
    expect(() => loadConfig({ MLFLOW_ALLOWED_SOURCES: 'relative/path/' })).toThrow(/MLFLOW_ALLOWED_SOURCES/);
    // An absolute path prefix admits the local paths MLflow's clients send for a local artifact root.
    expect(loadConfig({ MLFLOW_ALLOWED_SOURCES: '/data/mlruns/' }).mlflow.allowedSources).toEqual(['/data/mlruns/']);
    expect(() => loadConfig({ MLFLOW_ALLOWED_SOURCES: '/data/mlruns' })).toThrow(/MLFLOW_ALLOWED_SOURCES/);
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.breaker)).toBe(true);
  });

  it('describes every setting it reads', () => {
    for (const spec of Object.values(SETTINGS)) expect(spec.description.length).toBeGreaterThan(10);
  });

  describe('MLflow tracking URI and credentials', () => {
    it('rejects credentials in MLFLOW_TRACKING_URI without echoing the password', () => {
      const error = configError({ MLFLOW_TRACKING_URI: 'http://alice:s3cret-pw@mlflow:5000' });
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatch(/^MLFLOW_TRACKING_URI: expected no credentials in the URL/);
      expect(error.message).not.toContain('s3cret-pw');
    });

    it('rejects credentials in an MLFLOW_TRACKING_URI it cannot parse without echoing the password', () => {
      const error = configError({ MLFLOW_TRACKING_URI: 'http://alice:s3cret-pw@[bad-host' });
      expect(error.problems[0]).toMatch(/^MLFLOW_TRACKING_URI: /);
      expect(error.message).not.toContain('s3cret-pw');
    });

    it.each([
      ['a query', 'http://mlflow:5000/?x=1'],
      ['a fragment', 'http://mlflow:5000/#top'],
    ])('rejects %s in MLFLOW_TRACKING_URI', (_what, value) => {
      const { problems } = configError({ MLFLOW_TRACKING_URI: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^MLFLOW_TRACKING_URI: expected no query or fragment in the URL/);
    });

    it('accepts a tracking URI with a path prefix and drops trailing slashes', () => {
      expect(loadConfig({ MLFLOW_TRACKING_URI: 'https://mlflow.internal/prefix//' }).mlflow.trackingUri).toBe(
        'https://mlflow.internal/prefix',
      );
    });

    it('rejects MLFLOW_TRACKING_USERNAME without MLFLOW_TRACKING_PASSWORD', () => {
      expect(configError({ MLFLOW_TRACKING_USERNAME: 'alice' }).problems).toEqual([
        'MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD: expected both or neither',
      ]);
    });

    it('rejects MLFLOW_TRACKING_PASSWORD without MLFLOW_TRACKING_USERNAME, without echoing it', () => {
      const error = configError({ MLFLOW_TRACKING_PASSWORD: 'only-the-password' });
      expect(error.problems).toEqual(['MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD: expected both or neither']);
      expect(error.message).not.toContain('only-the-password');
    });

    it('rejects MLFLOW_TRACKING_TOKEN together with a user name and password, without echoing either secret', () => {
      const error = configError({
        MLFLOW_TRACKING_TOKEN: 'token-value-1',
        MLFLOW_TRACKING_USERNAME: 'alice',
        MLFLOW_TRACKING_PASSWORD: 'password-value-2',
      });
      expect(error.problems).toEqual([
        'MLFLOW_TRACKING_TOKEN: expected either a token or a user name and password, not both',
      ]);
      expect(error.message).not.toContain('token-value-1');
      expect(error.message).not.toContain('password-value-2');
    });

    it('rejects MLFLOW_TRACKING_TOKEN together with a lone user name', () => {
      const problems = configError({
        MLFLOW_TRACKING_TOKEN: 'token-value-1',
        MLFLOW_TRACKING_USERNAME: 'alice',
      }).problems;
      expect(problems).toContain(
        'MLFLOW_TRACKING_TOKEN: expected either a token or a user name and password, not both',
      );
    });

    it.each([
      ['MLFLOW_TRACKING_TOKEN', 'tok 7f3a9'],
      ['MLFLOW_TRACKING_PASSWORD', 'bell\u0007inside'],
      ['API_KEYS', 'k7f3a'],
      ['API_READ_ONLY_KEYS', 'r7f3a'],
      ['ADMIN_TOKEN', 'adm-7f3a'],
      ['DATABASE_URL', 'mysql://u:db-secret@h/x'],
      ['REDIS_URL', 'http://u:redis-secret@h'],
    ])('never echoes the rejected value of the secret %s', (name, value) => {
      const env: Record<string, string> = { [name]: value };
      if (name === 'MLFLOW_TRACKING_PASSWORD') env.MLFLOW_TRACKING_USERNAME = 'alice';
      const error = configError(env);
      expect(error.problems.some((problem) => problem.startsWith(`${name}: `))).toBe(true);
      expect(error.message).not.toContain(value);
    });

    it('builds the bearer header from MLFLOW_TRACKING_TOKEN', () => {
      expect(loadConfig({ MLFLOW_TRACKING_TOKEN: 'tok-1' }).mlflow.authorization).toBe('Bearer tok-1');
    });

    it('sends no credentials when none are configured', () => {
      expect(loadConfig({}).mlflow.authorization).toBeUndefined();
    });
  });

  describe('TRUST_PROXY', () => {
    it('trusts no proxy when unset', () => {
      expect(loadConfig({}).trustProxy).toBe(false);
    });

    it.each([
      ['10.0.0.0/16', ['10.0.0.0/16']],
      ['10.0.0.0/16, 192.168.1.7,fd00::/8', ['10.0.0.0/16', '192.168.1.7', 'fd00::/8']],
      ['10.0.0.7/32,10.0.0.0/1,::1/128', ['10.0.0.7/32', '10.0.0.0/1', '::1/128']],
    ])('reads %s', (value, expected) => {
      expect(loadConfig({ TRUST_PROXY: value }).trustProxy).toEqual(expected);
    });

    it.each([
      '1',
      'true',
      '*',
      '0.0.0.0/0',
      '::/0',
      '10.0.0.0/33',
      'fd00::/129',
      '10.0.0.0/1e1',
      '10.0.0.0/08',
      '10.0.0.0/8/1',
      'alb.internal',
      '10.0.0.1,',
    ])('rejects %s, naming what it accepts', (value) => {
      expect(configError({ TRUST_PROXY: value }).problems).toEqual([
        `TRUST_PROXY: expected comma-separated IP addresses or CIDR ranges (not /0) (got ${JSON.stringify(value)})`,
      ]);
    });
  });

  describe('time limits', () => {
    const SECONDS_SETTINGS = [
      'MLFLOW_REQUEST_TIMEOUT',
      'MLFLOW_CB_RECOVERY_TIMEOUT',
      'MLFLOW_CB_MAX_RECOVERY_TIMEOUT',
      'MLFLOW_HEALTH_PROBE_INTERVAL',
      'HEALTH_CHECK_TIMEOUT',
      'REQUEST_TIMEOUT',
      'HEADERS_TIMEOUT',
      'ADMIN_AUTH_WINDOW',
      'SHUTDOWN_DRAIN_DELAY',
      'SHUTDOWN_TIMEOUT',
      'CLOUDWATCH_EMF_INTERVAL',
    ] as const;

    it.each(SECONDS_SETTINGS)('rejects %s above 2147483 seconds, where Node timers overflow', (name) => {
      const problem = configError({ [name]: '2147484' }).problems.find((p) => p.startsWith(`${name}: `));
      expect(problem).toMatch(/expected a number of seconds (above 0|0 or more), at most 2147483 \(got "2147484"\)$/);
    });

    it('lists every timer setting there is', () => {
      const timers = Object.keys(SETTINGS).filter((name) => {
        try {
          loadConfig({ [name]: '2147484' });
          return false;
        } catch (error) {
          return isConfigError(error) && error.problems.some((p) => p.startsWith(`${name}:`) && p.includes('2147483'));
        }
      });
      expect(timers.sort()).toEqual([...SECONDS_SETTINGS].sort());
    });

    it('accepts 2147483 seconds, the longest a timer can wait', () => {
      expect(loadConfig({ MLFLOW_REQUEST_TIMEOUT: '2147483' }).mlflow.requestTimeoutMs).toBe(2_147_483_000);
    });

    it('rejects a HEADERS_TIMEOUT above REQUEST_TIMEOUT', () => {
      expect(configError({ REQUEST_TIMEOUT: '5', HEADERS_TIMEOUT: '6' }).problems).toEqual([
        'HEADERS_TIMEOUT: expected a value of at most REQUEST_TIMEOUT',
      ]);
    });

    it('accepts a HEADERS_TIMEOUT equal to REQUEST_TIMEOUT', () => {
      expect(loadConfig({ REQUEST_TIMEOUT: '5', HEADERS_TIMEOUT: '5' })).toMatchObject({
        requestTimeoutMs: 5_000,
        headersTimeoutMs: 5_000,
      });
    });
  });

  describe('production safety', () => {
    it('refuses ENVIRONMENT=production without API_KEYS', () => {
      expect(configError({ ENVIRONMENT: 'production' }).problems).toEqual([
        'API_KEYS: required when ENVIRONMENT=production, or API_READ_ONLY_KEYS (set ALLOW_ANONYMOUS=true to run without keys on purpose)',
      ]);
    });

    it('starts in production without API_KEYS when ALLOW_ANONYMOUS=true', () => {
      expect(loadConfig({ ENVIRONMENT: 'production', ALLOW_ANONYMOUS: 'true' }).auth).toMatchObject({
        apiKeys: [],
        allowAnonymous: true,
      });
    });

    it('starts in production with API_KEYS', () => {
      expect(loadConfig({ ENVIRONMENT: 'production', API_KEYS: 'key-prod-123' }).environment).toBe('production');
    });

    it('starts in production with read-only keys alone, since every request then needs a key', () => {
      const config = loadConfig({ ENVIRONMENT: 'production', API_READ_ONLY_KEYS: 'reader-prod-1' });
      expect(config.auth).toMatchObject({ apiKeys: [], readOnlyApiKeys: ['reader-prod-1'], allowAnonymous: false });
    });

    it('rejects an ALLOW_ANONYMOUS that is not true or false', () => {
      expect(configError({ ALLOW_ANONYMOUS: 'yes' }).problems).toEqual([
        'ALLOW_ANONYMOUS: expected true or false (got "yes")',
      ]);
    });
  });

  describe('MLFLOW_PROXY', () => {
    it('defaults to registry', () => {
      expect(loadConfig({}).mlflow.proxyMode).toBe('registry');
    });

    it.each(['off', 'read-only', 'registry', 'full'])('accepts %s', (mode) => {
      expect(loadConfig({ MLFLOW_PROXY: mode }).mlflow.proxyMode).toBe(mode);
    });

    it('offers exactly off, read-only, registry and full', () => {
      expect(PROXY_MODES).toEqual(['off', 'read-only', 'registry', 'full']);
    });

    it.each(['on', 'readonly', 'READ-ONLY', 'all', 'true'])('rejects %s with the allowed values', (mode) => {
      expect(configError({ MLFLOW_PROXY: mode }).problems).toEqual([
        `MLFLOW_PROXY: expected one of off, read-only, registry, full (got "${mode}")`,
      ]);
    });
  });
});

describe('loadConfig never echoes a secret', () => {
  it('never echoes a password holding a slash from MLFLOW_TRACKING_URI', () => {
    const error = configError({ MLFLOW_TRACKING_URI: 'http://alice:pa/ss-w0rd@mlflow:5000' });
    expect(error.problems[0]).toMatch(/^MLFLOW_TRACKING_URI: /);
    expect(error.message).not.toContain('ss-w0rd');
  });

  it('never echoes the query of a rejected MLFLOW_TRACKING_URI, which may hold a token', () => {
    const error = configError({ MLFLOW_TRACKING_URI: 'http://mlflow:5000/?token=qs-secret-1' });
    expect(error.problems[0]).toMatch(/^MLFLOW_TRACKING_URI: expected no query or fragment/);
    expect(error.message).not.toContain('qs-secret-1');
  });

  it('never echoes the fragment of a rejected MLFLOW_TRACKING_URI', () => {
    const error = configError({ MLFLOW_TRACKING_URI: 'http://mlflow:5000/#frag-secret-2' });
    expect(error.message).not.toContain('frag-secret-2');
  });
});

describe('loadConfig error messages', () => {
  it('names the error ConfigError and lists one indented line per problem', () => {
    const error = configError({ PORT: 'x', LOG_LEVEL: 'loud' });
    expect(error.name).toBe('ConfigError');
    expect(error.message).toBe(`Invalid configuration:\n  - ${error.problems[0]}\n  - ${error.problems[1]}`);
    expect(error.problems[0]).toBe('PORT: expected a whole number from 0 to 65535 (got "x")');
  });

  it.each(['1e3', '0x10', '8o', 'o8'])('rejects the port %s, which is not written as a whole number', (value) => {
    expect(configError({ PORT: value }).problems).toEqual([
      `PORT: expected a whole number from 0 to 65535 (got "${value}")`,
    ]);
  });

  it('accepts the largest and smallest port and rejects one past the largest', () => {
    expect(loadConfig({ PORT: '65535' }).port).toBe(65_535);
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
    expect(configError({ PORT: '65536' }).problems).toEqual([
      'PORT: expected a whole number from 0 to 65535 (got "65536")',
    ]);
  });

  it.each(['1e3', '0x10', '1.5s', 's1.5'])('rejects the seconds value %s with the example of a good one', (value) => {
    expect(configError({ SHUTDOWN_TIMEOUT: value }).problems).toEqual([
      `SHUTDOWN_TIMEOUT: expected a number of seconds 0 or more, at most 2147483, e.g. 10 or 0.5 (got "${value}")`,
    ]);
  });

  it('treats a variable holding only spaces as unset', () => {
    expect(loadConfig({ PORT: '   ', SHUTDOWN_TIMEOUT: ' \t ' })).toMatchObject({
      port: 8000,
      shutdownTimeoutMs: 10_000,
    });
  });

  it('rejects a database URL that is not a URL, without echoing it', () => {
    expect(configError({ DATABASE_URL: 'not a url' }).problems).toEqual([
      'DATABASE_URL: expected a URL starting with postgres:// or postgresql://',
    ]);
  });

  it('accepts a recovery cap equal to the base recovery timeout', () => {
    const config = loadConfig({ MLFLOW_CB_RECOVERY_TIMEOUT: '60', MLFLOW_CB_MAX_RECOVERY_TIMEOUT: '60' });
    expect(config.breaker).toMatchObject({ recoveryTimeoutMs: 60_000, maxRecoveryTimeoutMs: 60_000 });
  });

  it('rejects a token beside a user name and password with that one problem only', () => {
    const { problems } = configError({
      MLFLOW_TRACKING_TOKEN: 'tok-1',
      MLFLOW_TRACKING_USERNAME: 'alice',
      MLFLOW_TRACKING_PASSWORD: 'pw-1',
    });
    expect(problems).toEqual(['MLFLOW_TRACKING_TOKEN: expected either a token or a user name and password, not both']);
  });
});

describe('loadConfig shows a rejected MLFLOW_TRACKING_URI without its secrets', () => {
  const shown = (value: string) => {
    const [problem] = configError({ MLFLOW_TRACKING_URI: value }).problems;
    return problem?.slice(problem.indexOf(' (got "') + 7, -2);
  };

  it.each([
    ['shows a URL without user info, query or fragment as given', 'ftp://mlflow:5000/x', 'ftp://mlflow:5000/x'],
    ['shows a value without a scheme as given, even with an @ in it', 'user@mlflow', 'user@mlflow'],
    [
      'replaces the user info from the scheme to the last @',
      'ftp://alice:p@ss@mlflow:5000/x',
      'ftp://***@mlflow:5000/x (credentials removed)',
    ],
    ['replaces everything after a query mark', 'http://mlflow:5000/x?token=abc', 'http://mlflow:5000/x?*** (removed)'],
    ['replaces everything after a fragment mark', 'http://mlflow:5000/x#abc', 'http://mlflow:5000/x#*** (removed)'],
    [
      'reads an @ inside the query as part of the query, not as user info',
      'http://mlflow:5000/x?to=a@b',
      'http://mlflow:5000/x?*** (removed)',
    ],
    [
      'removes both the user info and the query',
      'http://alice:pw@mlflow/x?token=abc',
      'http://***@mlflow/x?*** (removed) (credentials removed)',
    ],
  ])('%s', (_behaviour, value, expected) => {
    expect(shown(value)).toBe(expected);
  });
});

describe('loadConfig reads every setting into the configuration', () => {
  it('reads the dependency, shutdown and CloudWatch settings', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://db.internal/registry',
      REDIS_URL: 'redis://cache.internal:6379',
      HEALTH_CHECK_TIMEOUT: '3',
      SHUTDOWN_DRAIN_DELAY: '5',
      SHUTDOWN_TIMEOUT: '20',
      CLOUDWATCH_EMF_ENABLED: 'true',
      CLOUDWATCH_NAMESPACE: 'Staging/Registry',
      CLOUDWATCH_EMF_INTERVAL: '15',
    });
    expect(config).toMatchObject({
      databaseUrl: 'postgres://db.internal/registry',
      redisUrl: 'redis://cache.internal:6379',
      healthCheckTimeoutMs: 3000,
      shutdownDrainDelayMs: 5000,
      shutdownTimeoutMs: 20_000,
      cloudwatch: { emfEnabled: true, namespace: 'Staging/Registry', emfIntervalMs: 15_000 },
    });
  });

  it('reads the two MLflow answer caps, each for its own use', () => {
    const config = loadConfig({ MLFLOW_PROXY_MAX_BYTES: '2048', MLFLOW_API_MAX_BYTES: '4096' });
    expect(config.mlflow).toMatchObject({ maxResponseBytes: 2048, maxApiResponseBytes: 4096 });
    expect(loadConfig({}).mlflow).toMatchObject({ maxResponseBytes: 268_435_456, maxApiResponseBytes: 8_388_608 });
  });

  it('defaults the CloudWatch settings to off, RegistryService and 60 s', () => {
    expect(loadConfig({}).cloudwatch).toEqual({
      emfEnabled: false,
      namespace: 'RegistryService',
      emfIntervalMs: 60_000,
    });
  });

  it('freezes every nested part', () => {
    const config = loadConfig({ API_KEYS: 'key-one-123' });
    for (const part of [config.mlflow, config.auth, config.auth.apiKeys, config.cache, config.cloudwatch]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
  });
});
