/** Writes one line of testkit's own to stderr (installs, images, cleanups), apart from any suite's output. */
export function log(message: string): void {
  process.stderr.write(`[testkit] ${message}\n`);
}
