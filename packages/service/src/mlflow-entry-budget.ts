import { z } from 'zod';
import { tagSchema } from './contract/registry.js';
import { isServiceError, ServiceError } from './errors.js';
import { type EntryRef, type EntryWrite, tagBytes, utf8Bytes } from './mlflow-entry-write.js';
import type { MlflowCalls } from './mlflow-gateway.js';

/**
 * What an entry holds that a write can add to: its tags, and its aliases (a model lists `{alias, version}`,
 * a version the names of the aliases that point at it).
 */
const storedSchema = z.looseObject({
  tags: z.array(tagSchema).optional(),
  aliases: z
    .array(z.union([z.string(), z.looseObject({ alias: z.string(), version: z.string().optional() })]))
    .optional(),
});
type StoredAlias = NonNullable<z.infer<typeof storedSchema>['aliases']>[number];

const aliasBytes = (alias: StoredAlias) =>
  typeof alias === 'string' ? utf8Bytes(alias) : utf8Bytes(alias.alias) + utf8Bytes(alias.version ?? '');
const aliasName = (alias: StoredAlias) => (typeof alias === 'string' ? alias : alias.alias);

/** What an entry holds now (bytes of its tags and aliases), and what of it the write replaces. */
function heldBytes(stored: unknown, write: EntryWrite): { total: number; replaced: number } {
  const parsed = storedSchema.safeParse(stored);
  if (!parsed.success) {
    throw new ServiceError('MLFLOW_BAD_RESPONSE', {
      message: 'MLflow described the entry in a shape the service does not read; the write was not relayed.',
      cause: parsed.error,
    });
  }
  const tags = parsed.data.tags ?? [];
  const aliases = parsed.data.aliases ?? [];
  const sum = (list: StoredAlias[]) => list.reduce((total, alias) => total + aliasBytes(alias), 0);
  return {
    total: tagBytes(tags) + sum(aliases),
    replaced:
      tagBytes(tags.filter((tag) => write.tagKeys.includes(tag.key))) +
      sum(aliases.filter((alias) => aliasName(alias) === write.alias)),
  };
}

/**
 * What the entry holds now, read as the pass-through relays: refused while the breaker is not closed and
 * never counted, since the name came from the client. An entry MLflow does not have (or hides: a deleted
 * logged model, whose tags MLflow would still set) is 404 MODEL_NOT_FOUND, and the write is not relayed.
 */
async function readStored(calls: MlflowCalls, entry: EntryRef): Promise<unknown> {
  try {
    return await calls.relay<unknown>((mlflow) => {
      if (entry.kind === 'model') return mlflow.getRegisteredModel(entry.name);
      if (entry.kind === 'version') return mlflow.getModelVersion(entry.name, entry.version);
      return mlflow.getLoggedModel(entry.id);
    });
  } catch (error) {
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
  const held = write.entry ? heldBytes(await readStored(calls, write.entry), write) : { total: 0, replaced: 0 };
  const after = held.total - held.replaced + write.bytes;
  if (after <= maxBytes || after <= held.total) return;
  throw new ServiceError('MLFLOW_ENTRY_TOO_LARGE', {
    message: `This write would leave the entry holding ${after} bytes of tags and aliases (it holds ${held.total}, the request brings ${write.bytes}); the pass-through allows at most ${maxBytes} (MLFLOW_PROXY_MAX_ENTRY_BYTES).`,
    details: { held_bytes: held.total, request_bytes: write.bytes, max_bytes: maxBytes },
  });
}
