import type { FastifyRequest } from 'fastify';
import secureJson from 'secure-json-parse';
import { ServiceError } from './errors.js';

/**
 * onRequest hook: a query string that is not valid percent-encoding (`%ZZ`, `%C3%28`) is 400, not read
 * as literal text (Fastify's parser keeps undecodable parts as they are).
 */
export async function requireValidQueryEncoding(request: FastifyRequest): Promise<void> {
  const url = request.raw.url ?? '';
  const at = url.indexOf('?');
  if (at === -1) return;
  try {
    decodeURIComponent(url.slice(at + 1).replaceAll('+', ' '));
  } catch {
    throw new ServiceError('BAD_REQUEST', {
      message: 'The query string is not valid percent-encoding.',
      details: [{ field: 'query', problem: 'not valid percent-encoding' }],
    });
  }
}

/** Keys that would change an object's prototype when a JSON body is merged into another object. */
const FORBIDDEN_KEYS_MESSAGE =
  'The body has a "__proto__" key, or a "constructor" key holding "prototype"; neither is accepted.';

/** Decodes UTF-8 and throws on bytes that are not (one decoder for every body: it keeps no state between calls). */
export const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The deepest nesting of arrays and objects a JSON body may have. MLflow's requests nest a few levels; a
 * megabyte of `[[[[...` cost 107 ms to parse and 120 ms to scan, the event loop held all along.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * Whether JSON `text` nests arrays and objects deeper than `max`, found in one pass over its characters
 * (brackets inside strings do not count) before anything parses it.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c)
        i += 1; // a backslash escapes the next character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x5b || code === 0x7b) {
      depth += 1;
      if (depth > max) return true;
    } else if (code === 0x5d || code === 0x7d) {
      depth -= 1;
      // A bracket closed before it opened: not JSON, which the parser then says; nothing deeper to find.
      if (depth < 0) return false;
    }
  }
  return false;
}

/** The refusal of a JSON body nested deeper than MAX_JSON_DEPTH. */
export const TOO_DEEP_MESSAGE = `The body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep.`;

/** The charset a JSON body may declare (RFC 8259: JSON exchanged between systems is UTF-8). */
const UTF8_CHARSET = /^utf-?8$/i;

/**
 * The JSON body parser of every route but the pass-through (which relays bodies as bytes): Fastify's, with
 * messages that say what is wrong, and strict about the encoding. Fastify's own parser answers "Body is not
 * valid JSON" for any failure, also for valid JSON that it refuses for a `__proto__` key, and decodes
 * whatever bytes arrive as UTF-8 with replacement characters: a body in Latin-1, or with bytes that are not
 * UTF-8, was stored with U+FFFD in their place and answered 201.
 */
export function parseJsonBody(
  request: FastifyRequest,
  body: Buffer,
  done: (error: Error | null, value?: unknown) => void,
): void {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1];
  if (charset !== undefined && !UTF8_CHARSET.test(charset)) {
    done(
      new ServiceError('UNSUPPORTED_MEDIA_TYPE', {
        message: `JSON bodies must be UTF-8; this one declares charset=${charset}.`,
      }),
    );
    return;
  }
  if (body.length === 0) {
    done(new ServiceError('BAD_REQUEST', { message: 'The body is empty, but its content-type is JSON.' }));
    return;
  }
  const bad = (message: string, problem: string, cause: unknown) =>
    done(new ServiceError('BAD_REQUEST', { message, details: [{ field: 'body', problem }], cause }));
  let text: string;
  try {
    text = STRICT_UTF8.decode(body);
  } catch (error) {
    bad('The body is not valid UTF-8.', 'not valid UTF-8', error);
    return;
  }
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    bad(TOO_DEEP_MESSAGE, `nested more than ${MAX_JSON_DEPTH} levels deep`, undefined);
    return;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // Where it broke off, not V8's excerpt of the body, which would echo it into the answer and the logs.
    const at = /at position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
    bad(`The body is not valid JSON${at === undefined ? '' : ` (at character ${at})`}.`, 'not valid JSON', error);
    return;
  }
  try {
    if (typeof value === 'object' && value !== null) {
      secureJson.scan(value as Record<string, unknown>, { protoAction: 'error', constructorAction: 'error' });
    }
  } catch (error) {
    bad(FORBIDDEN_KEYS_MESSAGE, 'a __proto__ or constructor.prototype key', error);
    return;
  }
  done(null, value);
}
