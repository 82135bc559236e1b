/** What each client holds now, at most `limit` each (the per-client share of calls, or of request bodies). */
export interface ClientShares {
  /** Takes one for `owner`: its release (safe to call twice), or undefined when `owner` holds `limit` already. */
  take(owner: string): (() => void) | undefined;
  /** Clients holding at least one now. */
  holders(): number;
}

/**
 * Creates the counts. A client has an entry only while it holds something, so the map never holds more
 * entries than there are things held.
 */
export function createClientShares(limit: number): ClientShares {
  const held = new Map<string, number>();
  return {
    take(owner) {
      const holding = held.get(owner) ?? 0;
      if (holding >= limit) return undefined;
      held.set(owner, holding + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (held.get(owner) ?? 1) - 1;
        if (left === 0) held.delete(owner);
        else held.set(owner, left);
      };
    },
    holders: () => held.size,
  };
}
