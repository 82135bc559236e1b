/** The keys of a comma-separated list (`REGISTRY_API_KEY`, `API_KEYS`), trimmed, empty entries dropped. */
export function parseApiKeys(list: string | undefined): string[] {
  return (list ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
}

/**
 * Hands out API keys one after another, round and round: the service gives each key its own share of the
 * bulkhead (MLFLOW_CLIENT_MAX_CONCURRENCY), so traffic standing for many users spreads across them.
 */
export interface KeyDealer {
  readonly size: number;
  /** The next key, or undefined when there are none. */
  next(): string | undefined;
}

/** A dealer over `keys`. */
export function dealKeys(keys: readonly string[]): KeyDealer {
  let dealt = 0;
  return {
    size: keys.length,
    next() {
      if (keys.length === 0) return undefined;
      const key = keys[dealt % keys.length];
      dealt += 1;
      return key;
    },
  };
}
