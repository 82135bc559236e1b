import { isIP } from 'node:net';
import { z } from 'zod';

const DECIMAL = /^\d+(\.\d+)?$/;
const INTEGER = /^\d+$/;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** What the pass-through lets through: see `mlflow-proxy-policy.ts`. */
export const PROXY_MODES = ['off', 'read-only', 'registry', 'full'] as const;
/** Longest time a setting may hold: Node's timers overflow (and fire at once) above 2^31-1 ms. */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

function seconds(options: { positive?: boolean } = {}) {
  const least = options.positive ? 'above 0' : '0 or more';
  const what = `a number of seconds ${least}, at most ${MAX_TIMER_SECONDS}`;
  return z
    .string()
    .regex(DECIMAL, { error: `expected ${what}, e.g. 10 or 0.5` })
    .transform(Number)
    .refine((value) => (!options.positive || value > 0) && value <= MAX_TIMER_SECONDS, { error: `expected ${what}` })
    .transform((value) => Math.round(value * 1000));
}

function bool() {
  return z.enum(['true', 'false'], { error: 'expected true or false' }).transform((value) => value === 'true');
}

/** The URL without its user info, so a rejected value never echoes a password. */
function withoutUserInfo(raw: string): string {
  // No parsing: a password may hold any character (a "/" makes URL read it as the host). Everything from
  // the scheme's "//" to the last "@" is user info; a query or fragment may hold a token too.
  const cut = raw.search(/[?#]/);
  const base = cut === -1 ? raw : `${raw.slice(0, cut)}${raw[cut]}*** (removed)`;
  const scheme = base.indexOf('//');
  const at = base.lastIndexOf('@', cut === -1 ? undefined : cut);
  if (scheme === -1 || at < scheme) return base;
  return `${base.slice(0, scheme + 2)}***${base.slice(at)} (credentials removed)`;
}

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z
    .string()
    .regex(INTEGER, { error: `expected a whole number from ${min} to ${max}` })
    .transform(Number)
    .refine((value) => value >= min && value <= max, { error: `expected a whole number from ${min} to ${max}` });
}

/** An IP address, or a CIDR range of them (`10.0.0.0/16`, `fd00::/8`) short of every address (`/0`). */
function isAddressOrRange(text: string): boolean {
  const [address = '', prefix, ...rest] = text.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^[1-9]\d{0,2}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * TRUST_PROXY: the addresses of the proxies whose `X-Forwarded-For` names the client. Addresses, not a hop
 * count: Fastify trusts no one for a count (it cannot tell a proxy from a client that sent the header
 * itself), and neither does the service; nor every sender (`/0`), which would let any client name its address.
 */
function trustedProxies() {
  return z
    .string()
    .refine((value) => value.split(',').every((part) => isAddressOrRange(part.trim())), {
      error: 'expected comma-separated IP addresses or CIDR ranges (not /0)',
    })
    .transform((value) => value.split(',').map((part) => part.trim()));
}

/** Comma-separated client keys (API_KEYS, API_READ_ONLY_KEYS). */
function keyList() {
  return z
    .string()
    .transform((value) => value.split(',').map((key) => key.trim()))
    .refine((keys) => keys.every((key) => key.length >= 8), {
      error: 'expected comma-separated keys of at least 8 characters each',
    });
}

function url(protocols: readonly string[]) {
  const expected = `expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`;
  return z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { error: expected },
  );
}

interface SettingSpec {
  /** Value used when the variable is unset or empty; `undefined` means the setting is off. */
  readonly default: string | undefined;
  readonly description: string;
  /** Secrets are never echoed back in error messages. */
  readonly secret?: boolean;
  /** How a rejected value is shown in the error (default: as given). */
  readonly display?: (raw: string) => string;
  readonly schema: z.ZodType<unknown, string>;
}

/**
 * Every setting of the service: the environment variable, its default, what it means and how it is
 * validated. The README's settings table is tested against this object.
 */
export const SETTINGS = {
  HOST: { default: '0.0.0.0', description: 'Listen address.', schema: z.string().min(1) },
  PORT: { default: '8000', description: 'Listen port (0 picks a free port).', schema: integer(0, 65535) },
  MLFLOW_TRACKING_URI: {
    default: 'http://localhost:5000',
    description:
      'Base URL of the MLflow tracking server / model registry (no credentials, query or fragment: see MLFLOW_TRACKING_TOKEN).',
    display: withoutUserInfo,
    schema: url(['http:', 'https:'])
      .refine((value) => URL.canParse(value) && new URL(value).username === '' && new URL(value).password === '', {
        error:
          'expected no credentials in the URL: give them in MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD',
      })
      .refine((value) => !value.includes('?') && !value.includes('#'), {
        error: 'expected no query or fragment in the URL',
      }),
  },
  MLFLOW_TRACKING_TOKEN: {
    default: undefined,
    description: "Bearer token the service sends to MLflow (as the MLflow client does); never the client's own.",
    secret: true,
    schema: z.string().regex(/^[\x21-\x7e]+$/, { error: 'expected a token of printable characters without spaces' }),
  },
  MLFLOW_TRACKING_USERNAME: {
    default: undefined,
    description: 'User for HTTP basic authentication to MLflow (with MLFLOW_TRACKING_PASSWORD).',
    schema: z
      .string()
      // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
      .regex(/^[^:\x00-\x1f\x7f]+$/, { error: 'expected a user name without colons or control characters' }),
  },
  MLFLOW_TRACKING_PASSWORD: {
    default: undefined,
    description: 'Password for HTTP basic authentication to MLflow (with MLFLOW_TRACKING_USERNAME).',
    secret: true,
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
    schema: z.string().regex(/^[^\x00-\x1f\x7f]+$/, { error: 'expected a password without control characters' }),
  },
  MLFLOW_PROXY: {
    default: 'registry',
    description: `What the /mlflow pass-through allows: ${PROXY_MODES.join(', ')} (see Security).`,
    schema: z.enum(PROXY_MODES, { error: `expected one of ${PROXY_MODES.join(', ')}` }),
  },
  MLFLOW_PROXY_MAX_BYTES: {
    default: '268435456',
    description: 'Largest MLflow answer the pass-through relays, in bytes (streamed, never buffered whole).',
    schema: integer(1024, 2 ** 40),
  },
  MLFLOW_PROXY_MAX_ENTRY_BYTES: {
    default: '16384',
    description:
      'Most bytes (UTF-8) of tags and aliases, keys and values, that one registered model, model version or logged model may hold after a write through the pass-through; a write beyond is 400 MLFLOW_ENTRY_TOO_LARGE and never reaches MLflow (a write that does not grow its entry always passes). A listing of up to 100 models asks MLflow for at most MLFLOW_API_MAX_BYTES / (5 x this) a page (a model and its four latest versions each at the budget): raising it shortens those pages (256 KiB: 6 models).',
    schema: integer(1024, 2 ** 40),
  },
  MLFLOW_ALLOWED_SOURCES: {
    default: undefined,
    description:
      "Comma-separated prefixes, each ending in `/`, one of which a model version's source must start with when it is registered through the service (the registry API, and model-versions/create on the pass-through), e.g. `s3://ml-artifacts/,models:/,runs:/,mlflow-artifacts:/`; another source is 400 MODEL_SOURCE_NOT_ALLOWED and never reaches MLflow. MLflow reads a version's source with its own credentials (get-artifact). A source holding a dot segment, a backslash or a control character (raw or percent-encoded) is refused either way. Unset: any source but a path on MLflow's own host (file: or no scheme); list its prefix (e.g. /data/mlruns/ or file:///data/mlruns/) to allow one. A prompt version's placeholder source (dummy-source) is always taken.",
    schema: z
      .string()
      .transform((value) => value.split(',').map((prefix) => prefix.trim()))
      .refine((prefixes) => prefixes.every((prefix) => /^([a-z][a-z0-9+.-]*:|\/)\S*\/$/i.test(prefix)), {
        error:
          'expected comma-separated URI prefixes such as s3://bucket/ or runs:/ (or absolute paths), each ending in /',
      }),
  },
  MLFLOW_API_MAX_BYTES: {
    default: '8388608',
    description:
      'Largest MLflow answer the service reads for its own calls (the registry API, the probe), in bytes: they are buffered whole, and a client can make an object large (tags through the pass-through). A larger answer is 502 MLFLOW_RESPONSE_TOO_LARGE, never counted as an MLflow failure.',
    schema: integer(1024, 2 ** 40),
  },
  MLFLOW_MAX_CONCURRENCY: {
    default: '16',
    description:
      'MLflow calls in flight at once (bulkhead), and artifact bodies streaming at once; beyond them (and the queue, for calls), 503 MLFLOW_SATURATED at once.',
    schema: integer(1, 10_000),
  },
  MLFLOW_QUEUE_SIZE: {
    default: '16',
    description: 'MLflow calls that may wait for a free slot when MLFLOW_MAX_CONCURRENCY are in flight.',
    schema: integer(0, 10_000),
  },
  MLFLOW_CLIENT_MAX_CONCURRENCY: {
    default: '8',
    description:
      'MLflow calls one client may have in flight or waiting at once, artifact bodies streaming included (its share of the bulkhead); one more gets 429 CLIENT_CONCURRENCY_LIMIT at once. A client is its API key, or its address when neither API_KEYS nor API_READ_ONLY_KEYS is set (an IPv6 address: its /64). MLFLOW_MAX_CONCURRENCY + MLFLOW_QUEUE_SIZE or more: no share.',
    schema: integer(1, 10_000),
  },
  MLFLOW_REQUEST_TIMEOUT: {
    default: '10',
    description: 'Per-request timeout to MLflow, in seconds.',
    schema: seconds({ positive: true }),
  },
  MLFLOW_CB_FAILURE_THRESHOLD: {
    default: '3',
    description: 'Consecutive MLflow failures that open the breaker (0: the first failure opens it).',
    schema: integer(0, 1_000_000),
  },
  MLFLOW_CB_RECOVERY_TIMEOUT: {
    default: '30',
    description: 'Seconds the breaker stays open before a trial call (half-open).',
    schema: seconds(),
  },
  MLFLOW_CB_MAX_RECOVERY_ATTEMPTS: {
    default: '3',
    description: 'Failed trials at the base recovery timeout before exponential backoff starts (0 behaves as 1).',
    schema: integer(0, 1_000_000),
  },
  MLFLOW_CB_BACKOFF_MULTIPLIER: {
    default: '2',
    description: 'Growth of the open time per further failed trial (1 or more).',
    schema: z
      .string()
      .regex(DECIMAL, { error: 'expected a number of 1 or more, e.g. 2 or 1.5' })
      .transform(Number)
      .refine((value) => value >= 1, { error: 'expected a number of 1 or more, e.g. 2 or 1.5' }),
  },
  MLFLOW_CB_MAX_RECOVERY_TIMEOUT: {
    default: '300',
    description: 'Cap on the open time, in seconds (at least MLFLOW_CB_RECOVERY_TIMEOUT).',
    schema: seconds(),
  },
  MLFLOW_CB_HALF_OPEN_SUCCESSES: {
    default: '2',
    description: 'Successful trials in half-open that close the breaker (0 behaves as 1).',
    schema: integer(0, 1_000_000),
  },
  MLFLOW_HEALTH_PROBE_INTERVAL: {
    default: '10',
    description: 'Seconds between background probes of MLflow (0 disables the probe).',
    schema: seconds(),
  },
  ADMIN_TOKEN: {
    default: undefined,
    description: 'Bearer token for manual breaker control; unset, those routes refuse every request.',
    secret: true,
    schema: z.string().min(16, { error: 'expected a token of at least 16 characters' }),
  },
  API_KEYS: {
    default: undefined,
    description:
      'Comma-separated keys; when set, registry and /mlflow routes require one (X-API-Key or Authorization: Bearer).',
    secret: true,
    schema: keyList(),
  },
  API_READ_ONLY_KEYS: {
    default: undefined,
    description:
      'Comma-separated keys that may only read: with one, the registry API answers GET and the pass-through its read endpoints and searches, and every write is 403 API_KEY_READ_ONLY before MLflow is called. Set (alone or beside API_KEYS), registry and /mlflow routes require a key. A key may not be in both lists.',
    secret: true,
    schema: keyList(),
  },
  DATABASE_URL: {
    default: undefined,
    description: 'PostgreSQL URL; a critical dependency when set (readiness fails while it is down).',
    secret: true,
    schema: url(['postgres:', 'postgresql:']),
  },
  REDIS_URL: {
    default: undefined,
    description: 'Redis URL; a non-critical dependency when set (degrades, never fails readiness).',
    secret: true,
    schema: url(['redis:', 'rediss:']),
  },
  HEALTH_CHECK_TIMEOUT: {
    default: '2',
    description: 'Seconds a PostgreSQL or Redis health check may take before it counts as failed.',
    schema: seconds({ positive: true }),
  },
  CACHE_MAX_ENTRIES: {
    default: '1000',
    description:
      'Entries in the last-known-good cache of registry reads (0 disables it); a quarter of them, rounded down, for searches, the rest for single models and versions.',
    schema: integer(0, 1_000_000),
  },
  CACHE_MAX_BYTES: {
    default: '67108864',
    description:
      'Bytes the last-known-good cache may hold, counted as the JSON size of each entry plus its key (0 disables it); shared like CACHE_MAX_ENTRIES.',
    schema: integer(0, 2 ** 40),
  },
  CACHE_MAX_ENTRY_BYTES: {
    default: '1048576',
    description: 'Largest single answer the cache keeps, in bytes; larger answers are served but not cached.',
    schema: integer(1, 2 ** 40),
  },
  REQUEST_TIMEOUT: {
    default: '30',
    description:
      'Seconds a client may take to send a whole request (headers and body); then 408 and the connection closes.',
    schema: seconds({ positive: true }),
  },
  HEADERS_TIMEOUT: {
    default: '10',
    description: 'Seconds a client may take to send the request headers (at most REQUEST_TIMEOUT).',
    schema: seconds({ positive: true }),
  },
  ADMIN_AUTH_MAX_FAILURES: {
    default: '10',
    description:
      'Failed authentications one client address may make on the manual breaker routes per ADMIN_AUTH_WINDOW; further attempts get 429.',
    schema: integer(1, 1_000_000),
  },
  ADMIN_AUTH_WINDOW: {
    default: '60',
    description: 'Window of ADMIN_AUTH_MAX_FAILURES, in seconds.',
    schema: seconds({ positive: true }),
  },
  TRUST_PROXY: {
    default: undefined,
    description:
      "Addresses (or CIDR ranges) of the proxies in front of the service, e.g. the ALB's subnets: from a connection of one of them, the client X-Forwarded-For names is the address the admin lockout counts, the audit log records and, without keys (API_KEYS, API_READ_ONLY_KEYS), the client share (MLFLOW_CLIENT_MAX_CONCURRENCY) counts. Unset, the connection's peer, X-Forwarded-For ignored.",
    schema: trustedProxies(),
  },
  ALLOW_ANONYMOUS: {
    default: 'false',
    description:
      'With ENVIRONMENT=production the service refuses to start without keys (API_KEYS or API_READ_ONLY_KEYS) unless this is true.',
    schema: bool(),
  },
  BODY_LIMIT: {
    default: '1048576',
    description:
      'Largest accepted request body, in bytes; larger bodies get 413. The registry API reads at most 65536 (64 KiB) whatever this says: its largest valid body is about 36 KB.',
    schema: integer(1, 1024 * 1024 * 1024),
  },
  SHUTDOWN_DRAIN_DELAY: {
    default: '0',
    description:
      'Seconds between SIGTERM and closing the listener, while readiness answers 503 so load balancers stop routing.',
    schema: seconds(),
  },
  SHUTDOWN_TIMEOUT: {
    default: '10',
    description: 'Seconds in-flight requests get to finish after the listener closes before the process exits anyway.',
    schema: seconds(),
  },
  CLOUDWATCH_EMF_ENABLED: {
    default: 'false',
    description:
      'Publish CircuitBreakerTrips, CircuitBreakerOpen and ServiceHealthScore as CloudWatch embedded metric format lines on stdout.',
    schema: bool(),
  },
  CLOUDWATCH_NAMESPACE: {
    default: 'RegistryService',
    description: 'CloudWatch namespace of the embedded-metric-format metrics.',
    schema: z.string().min(1).max(255),
  },
  CLOUDWATCH_EMF_INTERVAL: {
    default: '60',
    description: 'Seconds between embedded-metric-format publications.',
    schema: seconds({ positive: true }),
  },
  LOG_LEVEL: {
    default: 'info',
    description: `Log level: ${LOG_LEVELS.join(', ')}.`,
    schema: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }),
  },
  ENVIRONMENT: {
    default: 'development',
    description:
      'Deployment environment name reported by /health/status and /version (production requires API_KEYS or API_READ_ONLY_KEYS).',
    schema: z.string().min(1),
  },
} as const satisfies Record<string, SettingSpec>;

/** Name of an environment variable the service reads. */
export type SettingName = keyof typeof SETTINGS;

type Parsed<K extends SettingName> = z.output<(typeof SETTINGS)[K]['schema']>;

/** Validated, frozen configuration of the service; times are in milliseconds. */
export interface Config {
  readonly host: string;
  /** TRUST_PROXY for Fastify's `trustProxy`; false when unset (the socket's peer is the client). */
  readonly trustProxy: readonly string[] | false;
  readonly port: number;
  readonly environment: string;
  readonly logLevel: Parsed<'LOG_LEVEL'>;
  readonly mlflow: {
    readonly trackingUri: string;
    readonly requestTimeoutMs: number;
    readonly healthProbeIntervalMs: number;
    /** The Authorization header value the service sends to MLflow, from MLFLOW_TRACKING_TOKEN or USERNAME/PASSWORD. */
    readonly authorization: string | undefined;
    readonly proxyMode: ProxyMode;
    readonly maxResponseBytes: number;
    /** Largest answer read for the service's own calls (MLFLOW_API_MAX_BYTES). */
    readonly maxApiResponseBytes: number;
    /** Tags and aliases one registry entry may hold after a pass-through write (MLFLOW_PROXY_MAX_ENTRY_BYTES). */
    readonly maxEntryBytes: number;
    /** Prefixes a registered version's source must start with (MLFLOW_ALLOWED_SOURCES); undefined: any. */
    readonly allowedSources: readonly string[] | undefined;
    readonly maxConcurrency: number;
    readonly queueSize: number;
    /** MLflow calls (and artifact streams) one client may hold at once: its share of the bulkhead. */
    readonly clientMaxConcurrency: number;
  };
  readonly breaker: BreakerSettings;
  readonly auth: {
    readonly adminToken: string | undefined;
    readonly apiKeys: readonly string[];
    /** Keys that may only read (API_READ_ONLY_KEYS); never also in `apiKeys`. */
    readonly readOnlyApiKeys: readonly string[];
    readonly allowAnonymous: boolean;
    /** Failed admin authentications per client address and window before 429. */
    readonly adminMaxFailures: number;
    readonly adminFailureWindowMs: number;
  };
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly healthCheckTimeoutMs: number;
  readonly cache: { readonly maxEntries: number; readonly maxBytes: number; readonly maxEntryBytes: number };
  readonly bodyLimitBytes: number;
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly shutdownDrainDelayMs: number;
  readonly shutdownTimeoutMs: number;
  readonly cloudwatch: { readonly emfEnabled: boolean; readonly namespace: string; readonly emfIntervalMs: number };
}

/** A value of MLFLOW_PROXY. */
export type ProxyMode = (typeof PROXY_MODES)[number];

/** Breaker settings, in milliseconds where they are times. */
export interface BreakerSettings {
  readonly failureThreshold: number;
  readonly recoveryTimeoutMs: number;
  readonly maxRecoveryAttempts: number;
  readonly backoffMultiplier: number;
  readonly maxRecoveryTimeoutMs: number;
  readonly halfOpenSuccesses: number;
}

/** Thrown by `loadConfig` with every bad variable listed; `problems` holds one line each. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

/** Type guard for configuration errors. */
export function isConfigError(error: unknown): error is ConfigError {
  return error instanceof ConfigError;
}

/**
 * Reads and validates every setting from `env` (pure: no other input). An empty variable counts as
 * unset; an explicit `0` is a value. Throws one `ConfigError` naming every bad variable.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const problems: string[] = [];
  const values: Partial<Record<SettingName, unknown>> = {};
  for (const [name, spec] of Object.entries(SETTINGS) as [SettingName, SettingSpec][]) {
    const given = env[name];
    const raw = given === undefined || given.trim() === '' ? spec.default : given.trim();
    if (raw === undefined) continue;
    const result = spec.schema.safeParse(raw);
    if (result.success) {
      values[name] = result.data;
    } else {
      const shown = spec.secret ? '' : ` (got "${spec.display ? spec.display(raw) : raw}")`;
      problems.push(`${name}: ${result.error.issues[0]?.message ?? 'invalid value'}${shown}`);
    }
  }
  const get = <K extends SettingName>(name: K) => values[name] as Parsed<K>;
  const recovery = get('MLFLOW_CB_RECOVERY_TIMEOUT');
  const maxRecovery = get('MLFLOW_CB_MAX_RECOVERY_TIMEOUT');
  if (recovery !== undefined && maxRecovery !== undefined && maxRecovery < recovery) {
    problems.push('MLFLOW_CB_MAX_RECOVERY_TIMEOUT: expected a value of at least MLFLOW_CB_RECOVERY_TIMEOUT');
  }
  const requestTimeout = get('REQUEST_TIMEOUT');
  const headersTimeout = get('HEADERS_TIMEOUT');
  if (requestTimeout !== undefined && headersTimeout !== undefined && headersTimeout > requestTimeout) {
    problems.push('HEADERS_TIMEOUT: expected a value of at most REQUEST_TIMEOUT');
  }
  const username = get('MLFLOW_TRACKING_USERNAME');
  const password = get('MLFLOW_TRACKING_PASSWORD');
  const token = get('MLFLOW_TRACKING_TOKEN');
  if ((username === undefined) !== (password === undefined)) {
    problems.push('MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD: expected both or neither');
  }
  if (token !== undefined && (username !== undefined || password !== undefined)) {
    problems.push('MLFLOW_TRACKING_TOKEN: expected either a token or a user name and password, not both');
  }
  const apiKeys = get('API_KEYS') ?? [];
  const readOnlyApiKeys = get('API_READ_ONLY_KEYS') ?? [];
  const noKeys = apiKeys.length === 0 && readOnlyApiKeys.length === 0;
  if (get('ENVIRONMENT') === 'production' && noKeys && get('ALLOW_ANONYMOUS') !== true) {
    problems.push(
      'API_KEYS: required when ENVIRONMENT=production, or API_READ_ONLY_KEYS (set ALLOW_ANONYMOUS=true to run without keys on purpose)',
    );
  }
  if (readOnlyApiKeys.some((key) => apiKeys.includes(key))) {
    problems.push('API_READ_ONLY_KEYS: expected keys that are not also in API_KEYS');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const authorization =
    token !== undefined
      ? `Bearer ${token}`
      : username !== undefined && password !== undefined
        ? `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
        : undefined;

  return deepFreeze({
    host: get('HOST'),
    trustProxy: get('TRUST_PROXY') ?? false,
    port: get('PORT'),
    environment: get('ENVIRONMENT'),
    logLevel: get('LOG_LEVEL'),
    mlflow: {
      trackingUri: get('MLFLOW_TRACKING_URI').replace(/\/+$/, ''),
      requestTimeoutMs: get('MLFLOW_REQUEST_TIMEOUT'),
      healthProbeIntervalMs: get('MLFLOW_HEALTH_PROBE_INTERVAL'),
      authorization,
      proxyMode: get('MLFLOW_PROXY'),
      maxResponseBytes: get('MLFLOW_PROXY_MAX_BYTES'),
      maxApiResponseBytes: get('MLFLOW_API_MAX_BYTES'),
      maxEntryBytes: get('MLFLOW_PROXY_MAX_ENTRY_BYTES'),
      allowedSources: get('MLFLOW_ALLOWED_SOURCES'),
      maxConcurrency: get('MLFLOW_MAX_CONCURRENCY'),
      queueSize: get('MLFLOW_QUEUE_SIZE'),
      clientMaxConcurrency: get('MLFLOW_CLIENT_MAX_CONCURRENCY'),
    },
    breaker: {
      failureThreshold: get('MLFLOW_CB_FAILURE_THRESHOLD'),
      recoveryTimeoutMs: recovery,
      maxRecoveryAttempts: get('MLFLOW_CB_MAX_RECOVERY_ATTEMPTS'),
      backoffMultiplier: get('MLFLOW_CB_BACKOFF_MULTIPLIER'),
      maxRecoveryTimeoutMs: maxRecovery,
      halfOpenSuccesses: get('MLFLOW_CB_HALF_OPEN_SUCCESSES'),
    },
    auth: {
      adminToken: get('ADMIN_TOKEN'),
      apiKeys,
      readOnlyApiKeys,
      allowAnonymous: get('ALLOW_ANONYMOUS'),
      adminMaxFailures: get('ADMIN_AUTH_MAX_FAILURES'),
      adminFailureWindowMs: get('ADMIN_AUTH_WINDOW'),
    },
    databaseUrl: get('DATABASE_URL'),
    redisUrl: get('REDIS_URL'),
    healthCheckTimeoutMs: get('HEALTH_CHECK_TIMEOUT'),
    cache: {
      maxEntries: get('CACHE_MAX_ENTRIES'),
      maxBytes: get('CACHE_MAX_BYTES'),
      maxEntryBytes: get('CACHE_MAX_ENTRY_BYTES'),
    },
    bodyLimitBytes: get('BODY_LIMIT'),
    requestTimeoutMs: requestTimeout,
    headersTimeoutMs: headersTimeout,
    shutdownDrainDelayMs: get('SHUTDOWN_DRAIN_DELAY'),
    shutdownTimeoutMs: get('SHUTDOWN_TIMEOUT'),
    cloudwatch: {
      emfEnabled: get('CLOUDWATCH_EMF_ENABLED'),
      namespace: get('CLOUDWATCH_NAMESPACE'),
      emfIntervalMs: get('CLOUDWATCH_EMF_INTERVAL'),
    },
  });
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object' && !Object.isFrozen(child)) deepFreeze(child);
  }
  return Object.freeze(value);
}
