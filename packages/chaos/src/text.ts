/** Text shared by the fault and abuse reports: aligned tables, verdict lines, HTML escaping. */

/** A plain-text table: columns padded to their widest cell, a dashed rule under the header. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

/** Verdicts as indented `ok` / `FAIL` lines. */
export function formatVerdicts(checks: readonly { passed: boolean; name: string; detail: string }[]): string {
  return checks.map((c) => `    ${c.passed ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`).join('\n');
}
