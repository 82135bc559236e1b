import { z } from 'zod';
import { isServiceError, ServiceError } from './errors.js';
import type { MlflowCalls } from './mlflow-gateway.js';

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

const byteLength = (text: string) => Buffer.byteLength(text, 'utf8');

/** A field MLflow reads as a string: a string, a number (as the client's JSON wrote it) or absent (''). */
function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
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

const tagBytes = (tags: readonly { key: string; value?: string | undefined }[]) =>
  tags.reduce((sum, tag) => sum + byteLength(tag.key) + byteLength(tag.value ?? ''), 0);

/** `{ entry }`, or nothing when the write leaves a field naming its entry empty (MLflow refuses it). */
function named(entry: EntryRef): { entry?: EntryRef } {
  const names =
    entry.kind === 'logged-model' ? [entry.id] : entry.kind === 'model' ? [entry.name] : [entry.name, entry.version];
  return names.every((name) => name !== '') ? { entry } : {};
}

/**
 * What a write stores, from its JSON body (and, for a logged model, the id in its path), or undefined when
 * the body is not the shape MLflow reads for the endpoint (the caller refuses it: MLflow would too).
 */
export function entryWriteOf(store: EntryStore, body: Record<string, unknown>, path: string): EntryWrite | undefined {
  if (store === 'new-entry' || store === 'logged-model-tags') {
    const tags = tagsOf(body.tags);
    if (tags === undefined) return undefined;
    const bytes = tagBytes(tags);
    if (store === 'new-entry') return { bytes, tagKeys: [] };
    // PATCH .../logged-models/<id>/tags: the id is the segment before `tags` (the path is already decoded).
    const id = path.split('/').at(-2) ?? '';
    return { ...named({ kind: 'logged-model', id }), bytes, tagKeys: tags.map((tag) => tag.key) };
  }
  const name = text(body.name);
  if (name === undefined) return undefined;
  if (store === 'model-alias') {
    const alias = text(body.alias);
    const version = text(body.version);
    if (alias === undefined || version === undefined) return undefined;
    return { ...named({ kind: 'model', name }), bytes: byteLength(alias) + byteLength(version), tagKeys: [], alias };
  }
  const key = text(body.key);
  const value = text(body.value);
  if (key === undefined || value === undefined) return undefined;
  const bytes = byteLength(key) + byteLength(value);
  if (store === 'model-tag') return { ...named({ kind: 'model', name }), bytes, tagKeys: [key] };
  const version = text(body.version);
  if (version === undefined) return undefined;
  return { ...named({ kind: 'version', name, version }), bytes, tagKeys: [key] };
}

const storedSchema = z.looseObject({
  tags: z.array(z.looseObject({ key: z.string(), value: z.string().optional() })).optional(),
  aliases: z.array(z.looseObject({ alias: z.string(), version: z.string().optional() })).optional(),
});

/** What an entry holds now: bytes of its tags and aliases, and of those the write replaces. */
function heldBytes(stored: unknown, write: EntryWrite): { total: number; replaced: number } {
  const parsed = storedSchema.safeParse(stored);
  const tags = parsed.success ? (parsed.data.tags ?? []) : [];
  const aliases = parsed.success ? (parsed.data.aliases ?? []) : [];
  const aliasBytes = (list: typeof aliases) =>
    list.reduce((sum, alias) => sum + byteLength(alias.alias) + byteLength(alias.version ?? ''), 0);
  const replacedTags = tags.filter((tag) => write.tagKeys.includes(tag.key));
  const replacedAliases = aliases.filter((alias) => alias.alias === write.alias);
  return {
    total: tagBytes(tags) + aliasBytes(aliases),
    replaced: tagBytes(replacedTags) + aliasBytes(replacedAliases),
  };
}

/** What the entry holds now; undefined when it does not exist (MLflow then answers the write itself). */
async function readStored(calls: MlflowCalls, entry: EntryRef): Promise<unknown> {
  try {
    return await calls.call<unknown>((mlflow) => {
      if (entry.kind === 'model') return mlflow.getRegisteredModel(entry.name);
      if (entry.kind === 'version') return mlflow.getModelVersion(entry.name, entry.version);
      return mlflow.getLoggedModel(entry.id);
    });
  } catch (error) {
    if (isServiceError(error) && error.code === 'MODEL_NOT_FOUND') return undefined;
    // An entry whose answer is larger than the service reads holds far more than any budget.
    if (isServiceError(error) && error.code === 'MLFLOW_RESPONSE_TOO_LARGE') {
      throw new ServiceError('MLFLOW_ENTRY_TOO_LARGE', {
        message:
          'The entry already holds more than the service reads (MLFLOW_API_MAX_BYTES); it takes no more tags or aliases through the pass-through.',
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Refuses a write that would leave its entry holding more than `maxBytes` of tags and aliases: 400
 * MLFLOW_ENTRY_TOO_LARGE, and the write never reaches MLflow. A write that adds to an existing entry
 * reads it first (one MLflow call, charged to the same client); a write that does not grow the entry (it
 * replaces a tag or an alias with one no larger) is let through even on an entry over the budget, so that
 * an entry stored before the budget can shrink.
 */
export async function enforceEntryBudget(calls: MlflowCalls, write: EntryWrite, maxBytes: number): Promise<void> {
  const stored = write.entry ? await readStored(calls, write.entry) : undefined;
  const held = heldBytes(stored, write);
  const after = held.total - held.replaced + write.bytes;
  if (after <= maxBytes || after <= held.total) return;
  throw new ServiceError('MLFLOW_ENTRY_TOO_LARGE', {
    message: `This write would leave the entry holding ${after} bytes of tags and aliases (it holds ${held.total}, the request brings ${write.bytes}); the pass-through allows at most ${maxBytes} (MLFLOW_PROXY_MAX_ENTRY_BYTES).`,
    details: { held_bytes: held.total, request_bytes: write.bytes, max_bytes: maxBytes },
  });
}
