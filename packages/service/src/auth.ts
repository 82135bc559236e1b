import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import ipaddr from 'ipaddr.js';
import { ServiceError } from './errors.js';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Compares two secrets in constant time (hashing first, so the length does not leak either). */
export function secretsEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * The index of the key whose digest (`digest(key)`) is in `keyDigests` that `given` equals, or -1. Every
 * digest is compared, so timing does not tell which matched (or whether any did).
 */
function matchingKeyIndex(given: string | undefined, keyDigests: readonly Buffer[]): number {
  if (given === undefined) return -1;
  const presented = digest(given);
  let matched = -1;
  keyDigests.forEach((keyDigest, index) => {
    const equal = timingSafeEqual(presented, keyDigest);
    if (equal && matched === -1) matched = index;
  });
  return matched;
}

/** True when `given` equals one of `keys`; every key is compared, so timing does not tell which matched. */
export function matchesAnyKey(given: string | undefined, keys: readonly string[]): boolean {
  return matchingKeyIndex(given, keys.map(digest)) !== -1;
}

/**
 * The address a client without a key is counted by: an IPv4 address (also one mapped into IPv6, so a
 * dual-stack client is one client), or the /64 network of an IPv6 address, since one subscriber is given
 * a whole /64 and may send from any address in it. Anything unparsable is kept as it is.
 */
export function clientAddress(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  const network = (address as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16));
  return `${network.join(':')}::/64`;
}

/** What a client's key lets it do: `write` (API_KEYS, or no keys configured) or `read` (API_READ_ONLY_KEYS). */
export type ClientAccess = 'read' | 'write';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Who sent the request, for the per-client share of the MLflow bulkhead (MLFLOW_CLIENT_MAX_CONCURRENCY):
     * `key:<index>` for the API key presented, `read-key:<index>` for a read-only key (never the key itself),
     * or `address:<clientAddress>` without keys.
     */
    registryClient: string;
    /** What the request's key lets it do (`write` without keys). */
    registryAccess: ClientAccess;
  }
}

/** The methods a read-only key may use on the registry API. */
const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/**
 * onRequest hook for routes behind API_KEYS and API_READ_ONLY_KEYS: with keys configured, a request needs
 * one, in `X-API-Key` or as `Authorization: Bearer <key>` (what the official MLflow client sends when
 * MLFLOW_TRACKING_TOKEN is set). It also names the request's client (`request.registryClient`: its key, or
 * its address without keys) and what it may do (`request.registryAccess`).
 */
export function createApiKeyHook(keys: { readonly write: readonly string[]; readonly readOnly: readonly string[] }) {
  const digests = [...keys.write, ...keys.readOnly].map(digest);
  return async (request: FastifyRequest) => {
    if (digests.length === 0) {
      request.registryClient = `address:${clientAddress(request.ip)}`;
      request.registryAccess = 'write';
      return;
    }
    const header = request.headers['x-api-key'];
    const given = typeof header === 'string' ? header : bearerToken(request.headers.authorization);
    const index = matchingKeyIndex(given, digests);
    if (index === -1) throw new ServiceError('UNAUTHORIZED', { headers: { 'www-authenticate': 'Bearer' } });
    const readOnly = index >= keys.write.length;
    request.registryClient = readOnly ? `read-key:${index - keys.write.length}` : `key:${index}`;
    request.registryAccess = readOnly ? 'read' : 'write';
  };
}

/**
 * onRequest hook of the registry API, after the key hook: a read-only key may use GET and HEAD only; any
 * other method is 403 API_KEY_READ_ONLY before its body is read. (The pass-through decides by endpoint,
 * since its searches are POSTs: `decideProxyRequest`.)
 */
export async function refuseWritesOfReadOnlyKeys(request: FastifyRequest): Promise<void> {
  if (request.registryAccess === 'read' && !READ_METHODS.has(request.method)) {
    throw new ServiceError('API_KEY_READ_ONLY');
  }
}
