import { ServiceError } from './errors.js';

/**
 * A dot segment (`.` or `..`), a backslash or a control character (which URL parsers delete: `.\t.` is
 * `..` to Python's `urlsplit`): where a source is resolved as a path (a `file:` location, an SDK or a proxy
 * that normalizes), it could lead out of the prefix it starts with.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const LEAVES_ITS_PREFIX = /(^|\/)\.{1,2}(\/|[?#]|$)|\\|[\u0000-\u001f\u007f]/;

/**
 * A source as resolvers might read it: as given, and percent-decoded up to three levels deep (`%252e` is
 * `%2e`, then `.`), leniently as Python's `unquote` does (an escape that is not one stays as it is). Each
 * escape becomes one character of its byte value: enough to find the ASCII characters that matter here.
 */
function decodings(source: string): string[] {
  const texts = [source];
  for (let depth = 0; depth < 3; depth += 1) {
    const last = texts[texts.length - 1] as string;
    const next = last.replace(/%[0-9a-f]{2}/gi, (percent) =>
      String.fromCharCode(Number.parseInt(percent.slice(1), 16)),
    );
    if (next === last) break;
    texts.push(next);
  }
  return texts;
}

/**
 * A source on MLflow's own host: a `file:` URI, or a path without a scheme (a one-letter scheme is a Windows
 * drive). MLflow resolves it on its own filesystem, following links, and names what it found in its errors.
 */
function isLocalPath(source: string): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(source)?.[1];
  return scheme === undefined || scheme.length === 1 || scheme.toLowerCase() === 'file';
}

/**
 * Holds a model version's `source` to MLFLOW_ALLOWED_SOURCES (undefined: any source but a path on MLflow's own
 * host, which only a listed `file:` prefix admits): MLflow reads a source
 * with its own credentials, so a client could otherwise point a version at any bucket MLflow may read.
 * Each prefix ends in `/` (the config checks it), so `s3://models/` never admits `s3://models-other/`, and a
 * source must not hold a dot segment, a backslash or a control character (raw or percent-encoded), so
 * `s3://models/../other/` does not either.
 */
export function checkModelSource(source: string, allowed: readonly string[] | undefined): ServiceError | undefined {
  const shown = JSON.stringify(source.slice(0, 200));
  if (allowed === undefined) {
    if (!isLocalPath(source)) return undefined;
    return new ServiceError('MODEL_SOURCE_NOT_ALLOWED', {
      message: `The source ${shown} is a path on MLflow's own host (file: or no scheme); MLFLOW_ALLOWED_SOURCES must list a file: prefix to allow one.`,
      details: { allowed_sources: null },
    });
  }
  const refused = (why: string) =>
    new ServiceError('MODEL_SOURCE_NOT_ALLOWED', {
      message: `The source ${shown} ${why} (MLFLOW_ALLOWED_SOURCES: ${allowed.join(', ')}).`,
      details: { allowed_sources: allowed },
    });
  if (!allowed.some((prefix) => source.startsWith(prefix))) return refused('does not start with an allowed prefix');
  if (decodings(source).some((text) => LEAVES_ITS_PREFIX.test(text))) {
    return refused(
      'holds a dot segment, a backslash or a control character, raw or percent-encoded, which could lead out of its prefix',
    );
  }
  return undefined;
}
