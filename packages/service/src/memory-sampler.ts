/** Longest a resident-memory reading is reused: reading it costs a /proc read (~8 µs) per call. */
export const RSS_SAMPLE_MAX_AGE_MS = 1000;

/**
 * Returns a function giving the process's resident memory in MB (one decimal), read at most once per
 * `maxAgeMs`, so that liveness probes under load stay cheap.
 */
export function createMemorySampler(now: () => number, maxAgeMs = RSS_SAMPLE_MAX_AGE_MS): () => number {
  let readAt = Number.NEGATIVE_INFINITY;
  let megabytes = 0;
  return () => {
    const at = now();
    if (at - readAt >= maxAgeMs) {
      megabytes = Math.round((process.memoryUsage.rss() / (1024 * 1024)) * 10) / 10;
      readAt = at;
    }
    return megabytes;
  };
}
