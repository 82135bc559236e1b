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
 * The source MLflow's own clients give every prompt version (`_CLIENT_PROMPT_SOURCE_PLACEHOLDER` in MLflow
 * 3.17): it names nothing, and MLflow checks no source of a version tagged as a prompt.
 */
export const PROMPT_SOURCE_PLACEHOLDER = 'dummy-source';

/**
 * Holds a model version's `source` (MLFLOW_ALLOWED_SOURCES: `allowed`). In every case a source must hold no
 * dot segment, backslash or control character, raw or percent-encoded, so `s3://models/../other/` never
 * leaves `s3://models/`. With prefixes, it must start with one (each ends in `/`, the config checks it, so
 * `s3://models/` never admits `s3://models-other/`): MLflow reads a source with its own credentials, so a
 * client could otherwise point a version at any bucket MLflow may read. Without, any source but a path on
 * MLflow's own host, which only a listed prefix (`/data/mlruns/`, `file:///data/mlruns/`) admits. A prompt
 * version (`prompt`) may give MLflow's placeholder source.
 */
export function checkModelSource(
  source: string,
  allowed: readonly string[] | undefined,
  options: { readonly prompt?: boolean } = {},
): ServiceError | undefined {
  if (options.prompt && source === PROMPT_SOURCE_PLACEHOLDER) return undefined;
  const refused = (why: string) =>
    new ServiceError('MODEL_SOURCE_NOT_ALLOWED', {
      message: `The source ${JSON.stringify(source.slice(0, 200))} ${why} (MLFLOW_ALLOWED_SOURCES: ${allowed?.join(', ') ?? 'unset'}).`,
      details: { allowed_sources: allowed ?? null },
    });
  if (decodings(source).some((text) => LEAVES_ITS_PREFIX.test(text))) {
    return refused(
      'holds a dot segment, a backslash or a control character, raw or percent-encoded, which could lead out of its prefix',
    );
  }
  if (allowed === undefined) {
    if (!isLocalPath(source)) return undefined;
    return refused(
      "is a path on MLflow's own host (file: or no scheme): only a prefix listed in MLFLOW_ALLOWED_SOURCES admits one",
    );
  }
  if (!allowed.some((prefix) => source.startsWith(prefix))) return refused('does not start with an allowed prefix');
  return undefined;
}
