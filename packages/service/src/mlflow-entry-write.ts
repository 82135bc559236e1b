import { modelParamsSchema, versionParamsSchema } from './contract/registry.js';

/**
 * How a pass-through write stores tags or aliases on a registry entry, from the endpoint's allowlist entry:
 * a new registered model or model version with its tags, a tag on a model or a version, an alias on a model,
 * tags on a logged model.
 */
export type EntryStore = 'new-entry' | 'model-tag' | 'version-tag' | 'model-alias' | 'logged-model-tags';

/** The entry a write adds to, as MLflow names it. */
export type EntryRef =
  | { readonly kind: 'model'; readonly name: string }
  | { readonly kind: 'version'; readonly name: string; readonly version: string }
  | { readonly kind: 'logged-model'; readonly id: string };

/** What one pass-through write stores on one entry, held to MLFLOW_PROXY_MAX_ENTRY_BYTES. */
export interface EntryWrite {
  /**
   * The entry written to; absent for a create, whose entry holds only what the request brings, and for a
   * write that does not name its entry (MLflow refuses it: a required field is missing).
   */
  readonly entry?: EntryRef;
  /** UTF-8 bytes of the tag keys and values, or of the alias and its version, the request stores. */
  readonly bytes: number;
  /** Tag keys the write sets: what the entry holds under them now is replaced, so it does not count. */
  readonly tagKeys: readonly string[];
  /** The alias the write sets (a model alias), likewise replaced. */
  readonly alias?: string;
}

/** Why a write's body cannot be measured: MLflow would refuse it as well. */
export interface UnmeasurableWrite {
  readonly refused: string;
}

/** Bytes of `text` in UTF-8. */
export const utf8Bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** Bytes of tags' keys and values in UTF-8. */
export const tagBytes = (tags: readonly { key: string; value?: string | undefined }[]) =>
  tags.reduce((sum, tag) => sum + utf8Bytes(tag.key) + utf8Bytes(tag.value ?? ''), 0);

const NOT_TEXT = 'its fields must be JSON strings, as MLflow reads them';

/** A field MLflow reads as a string: a string, or absent (''). MLflow refuses a number or anything else. */
function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : undefined;
}

/** The tags of a request body (`[{key, value}]`), or undefined when they are not that shape. */
function tagsOf(value: unknown): { key: string; value: string }[] | undefined {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return undefined;
  const tags: { key: string; value: string }[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null) return undefined;
    const key = text((item as Record<string, unknown>).key);
    const tagValue = text((item as Record<string, unknown>).value);
    if (key === undefined || tagValue === undefined) return undefined;
    tags.push({ key, value: tagValue });
  }
  return tags;
}

/**
 * `{ entry }` for an entry the service may read before the write, `{}` when the write leaves a field naming
 * it empty (MLflow refuses it), or why its name cannot be one MLflow stores (the typed API's own rules: a
 * model name of at most 256 characters without control characters, a version MLflow's column holds).
 */
function named(entry: EntryRef): { entry?: EntryRef } | UnmeasurableWrite {
  if (entry.kind === 'logged-model') {
    // MLflow's logged model ids are `m-` and 32 hexadecimal digits; the path's `*` is never empty.
    return /^[\w-]{1,64}$/.test(entry.id) ? { entry } : { refused: 'the logged model id is not one MLflow gives' };
  }
  if (entry.name === '' || (entry.kind === 'version' && entry.version === '')) return {};
  const checked =
    entry.kind === 'model'
      ? modelParamsSchema.safeParse({ name: entry.name })
      : versionParamsSchema.safeParse({ name: entry.name, version: entry.version });
  if (checked.success) return { entry };
  const issue = checked.error.issues[0];
  return { refused: `its ${String(issue?.path[0] ?? 'name')} is not valid: ${issue?.message ?? 'invalid'}` };
}

/**
 * What a write stores, from its JSON body (and, for a logged model, the id in its path), or why it cannot
 * be measured (the caller refuses it: MLflow would too).
 */
export function measureEntryWrite(
  store: EntryStore,
  body: Record<string, unknown>,
  path: string,
): EntryWrite | UnmeasurableWrite {
  const withEntry = (entry: EntryRef, write: Omit<EntryWrite, 'entry'>): EntryWrite | UnmeasurableWrite => {
    const checked = named(entry);
    return 'refused' in checked ? checked : { ...checked, ...write };
  };
  if (store === 'new-entry' || store === 'logged-model-tags') {
    const tags = tagsOf(body.tags);
    if (tags === undefined) return { refused: `its tags must be a list of {key, value}: ${NOT_TEXT}` };
    const bytes = tagBytes(tags);
    if (store === 'new-entry') return { bytes, tagKeys: [] };
    // PATCH .../logged-models/<id>/tags: the id is the segment before `tags` (the path is already decoded).
    const id = path.split('/').at(-2) ?? '';
    return withEntry({ kind: 'logged-model', id }, { bytes, tagKeys: tags.map((tag) => tag.key) });
  }
  const name = text(body.name);
  if (name === undefined) return { refused: NOT_TEXT };
  if (store === 'model-alias') {
    const alias = text(body.alias);
    const version = text(body.version);
    if (alias === undefined || version === undefined) return { refused: NOT_TEXT };
    return withEntry({ kind: 'model', name }, { bytes: utf8Bytes(alias) + utf8Bytes(version), tagKeys: [], alias });
  }
  const key = text(body.key);
  const value = text(body.value);
  if (key === undefined || value === undefined) return { refused: NOT_TEXT };
  const bytes = utf8Bytes(key) + utf8Bytes(value);
  if (store === 'model-tag') return withEntry({ kind: 'model', name }, { bytes, tagKeys: [key] });
  const version = text(body.version);
  if (version === undefined) return { refused: NOT_TEXT };
  return withEntry({ kind: 'version', name, version }, { bytes, tagKeys: [key] });
}
