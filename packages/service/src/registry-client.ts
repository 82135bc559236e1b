import { createRequire } from 'node:module';
import type { z } from 'zod';
import { ROUTES, type RouteContract } from './contract/routes.js';

/** Options of `createRegistryClient`. */
export interface RegistryClientOptions {
  /** The service's base URL, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string;
  /** Sent as `X-API-Key` to the registry routes. */
  readonly apiKey?: string;
  /** Sent as `Authorization: Bearer` to the manual breaker control. */
  readonly adminToken?: string;
  /** Per request (default 10 s). */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** The answers a route can give, one member per declared status, each body parsed with its schema. */
export type Answer<R extends RouteContract> = {
  [S in keyof R['schema']['response'] & number]: {
    readonly status: S;
    readonly headers: Headers;
    readonly body: z.output<R['schema']['response'][S]>;
    readonly latencyMs: number;
  };
}[keyof R['schema']['response'] & number];

/** An answer the contract does not describe: a status it does not list, or a body its schema rejects. */
export class ContractError extends Error {
  override readonly name = 'ContractError';
  constructor(
    message: string,
    readonly status: number,
    readonly text: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type Input<R extends RouteContract, K extends 'params' | 'querystring' | 'body'> = R['schema'][K] extends z.ZodType
  ? z.input<R['schema'][K]>
  : never;

/** What a call of route R takes: its path parameters, query and body, each typed by the contract. */
export type CallInput<R extends RouteContract> = {
  readonly params?: Input<R, 'params'>;
  readonly query?: Input<R, 'querystring'>;
  readonly body?: Input<R, 'body'>;
};

/** One sample of a metric family; histograms and summaries carry buckets or quantiles, count and sum. */
export interface MetricSample {
  readonly value?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly buckets?: Readonly<Record<string, string>>;
  readonly quantiles?: Readonly<Record<string, string>>;
  readonly count?: string;
  readonly sum?: string;
}

/** One metric family, in the shape prom2json gives. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  readonly metrics: readonly MetricSample[];
}

// A CommonJS module without types: its export is the parser itself.
const parsePrometheusTextFormat = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string,
) => MetricFamily[];

/** Parsed `GET /metrics`: the metric families, and the value of one sample by name and labels. */
export interface MetricsReading {
  readonly families: readonly MetricFamily[];
  /** The first sample of `name` whose labels include `labels`; NaN when there is none. */
  value(name: string, labels?: Readonly<Record<string, string>>): number;
}

/** Parses Prometheus text (the exposition format 0.0.4 of `GET /metrics`). */
export function readMetrics(text: string): MetricsReading {
  const families = parsePrometheusTextFormat(text);
  return {
    families,
    value(name, labels = {}) {
      const family = families.find((each) => each.name === name);
      const sample = family?.metrics.find((metric) =>
        Object.entries(labels).every(([key, wanted]) => metric.labels?.[key] === wanted),
      );
      return sample?.value === undefined ? Number.NaN : Number(sample.value);
    },
  };
}

function fillPath(url: string, params: Readonly<Record<string, string>> = {}): string {
  return url.replace(/:(\w+)/g, (_match, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`path parameter ${name} of ${url} is missing`);
    return encodeURIComponent(value);
  });
}

/**
 * A typed client of the service, built on the route contract (`ROUTES`): each method's input and answers
 * are typed by the route's schemas, and every answer is parsed with the schema of its status, so a
 * renamed field is a compile error for the consumer and a `ContractError` at run time, never a NaN.
 */
export function createRegistryClient(options: RegistryClientOptions) {
  const base = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const fetchImpl = options.fetch ?? fetch;

  async function call<R extends RouteContract>(route: R, input: CallInput<R> = {}): Promise<Answer<R>> {
    const url = new URL(`${base}${fillPath(route.url, input.params as Record<string, string> | undefined)}`);
    for (const [key, value] of Object.entries((input.query ?? {}) as Record<string, unknown>)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (input.body !== undefined) headers['content-type'] = 'application/json';
    if (options.apiKey && route.schema.security === ROUTES.searchModels.schema.security) {
      headers['x-api-key'] = options.apiKey;
    }
    if (options.adminToken && route.schema.security === ROUTES.resetBreaker.schema.security) {
      headers.authorization = `Bearer ${options.adminToken}`;
    }
    const started = performance.now();
    const response = await fetchImpl(url, {
      method: route.method,
      headers,
      body: input.body === undefined ? undefined : JSON.stringify(input.body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    const latencyMs = performance.now() - started;
    const where = `${route.method} ${route.url} answered ${response.status}`;
    const schema = route.schema.response[response.status];
    if (!schema) throw new ContractError(`${where}, a status the contract does not list`, response.status, text);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new ContractError(`${where} with a body that is not JSON`, response.status, text, { cause: error });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
      throw new ContractError(`${where} with a body its schema rejects (${issues})`, response.status, text, {
        cause: parsed.error,
      });
    }
    return { status: response.status, headers: response.headers, body: parsed.data, latencyMs } as Answer<R>;
  }

  return {
    /** Any route of the contract, by its entry in `ROUTES`. */
    call,
    live: () => call(ROUTES.live),
    ready: () => call(ROUTES.ready),
    health: (query: CallInput<typeof ROUTES.health>['query'] = {}) => call(ROUTES.health, { query }),
    status: () => call(ROUTES.status),
    mlflowHealth: () => call(ROUTES.mlflowHealth),
    version: () => call(ROUTES.version),
    breaker: {
      reset: () => call(ROUTES.resetBreaker),
      open: () => call(ROUTES.openBreaker),
    },
    models: {
      search: (query: CallInput<typeof ROUTES.searchModels>['query'] = {}) => call(ROUTES.searchModels, { query }),
      get: (name: string) => call(ROUTES.getModel, { params: { name } }),
      version: (name: string, version: string) => call(ROUTES.getModelVersion, { params: { name, version } }),
      register: (name: string, body: CallInput<typeof ROUTES.registerModelVersion>['body']) =>
        call(ROUTES.registerModelVersion, { params: { name }, body }),
      transition: (name: string, version: string, body: CallInput<typeof ROUTES.transitionModelVersion>['body']) =>
        call(ROUTES.transitionModelVersion, { params: { name, version }, body }),
    },
    /** `GET /metrics`, parsed. */
    async metrics(): Promise<MetricsReading> {
      const response = await fetchImpl(`${base}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
      const text = await response.text();
      if (response.status !== 200)
        throw new ContractError(`GET /metrics answered ${response.status}`, response.status, text);
      return readMetrics(text);
    },
  };
}

/** The client `createRegistryClient` returns. */
export type RegistryClient = ReturnType<typeof createRegistryClient>;
