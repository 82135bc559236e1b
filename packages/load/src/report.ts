import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeHtml } from '@registry/testkit';
import type { ScenarioResult } from './run-scenario.js';

/** The whole load run, as written to JSON and HTML. */
export interface LoadReport {
  readonly target: string;
  /** The bare-route throughput capacity thresholds are shares of (absent against a deployed target). */
  readonly baselineRps?: number;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly engines: readonly { readonly name: string; readonly ran: boolean; readonly note: string }[];
  readonly results: readonly ScenarioResult[];
  readonly skipped: readonly { readonly id: string; readonly title: string; readonly reason: string }[];
  readonly passed: boolean;
}

const mark = (passed: boolean) => (passed ? 'ok' : 'FAIL');

/** One scenario as a text table: a row per stream (rps, p50/p95/p99, errors, verdicts), then resource checks. */
export function formatScenario(result: ScenarioResult): string {
  const header = [
    'stream',
    'requests',
    'rps',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'max ms',
    'errors',
    'statuses',
    'thresholds',
  ];
  const rows = result.streams.map((s) => [
    s.name,
    String(s.requests),
    String(s.rps),
    String(s.p50Ms),
    String(s.p95Ms),
    String(s.p99Ms),
    String(s.maxMs),
    `${(s.errorRate * 100).toFixed(2)} %`,
    formatStatuses(s.statuses),
    s.verdicts.map((v) => `${v.name} ${mark(v.passed)}${v.passed ? '' : ` (${v.observed} vs ${v.limit})`}`).join(', '),
  ]);
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => `  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}`;
  const lines = [
    `${result.passed ? 'PASS' : 'FAIL'} ${result.title} (${result.durationSec} s)`,
    line(header),
    ...rows.map(line),
  ];
  for (const check of result.checks)
    lines.push(`  ${check.name}: ${check.observed} (limit ${check.limit}) ${mark(check.passed)}`);
  return lines.join('\n');
}

/** Status counts as `200:1234 503:567`. */
function formatStatuses(statuses: Readonly<Record<string, number>>): string {
  return Object.entries(statuses)
    .map(([status, count]) => `${status}:${count}`)
    .join(' ');
}

/** A self-contained HTML summary of the run. */
export function renderHtml(report: LoadReport): string {
  const sections = report.results
    .map(
      (r) => `<h2 class="${r.passed ? 'ok' : 'bad'}">${r.passed ? '&#10003;' : '&#10007;'} ${escapeHtml(r.title)}</h2>
<table><tr><th>stream</th><th>requests</th><th>rps</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>errors</th><th>statuses</th><th>thresholds</th></tr>
${r.streams
  .map(
    (
      s,
    ) => `<tr><td>${escapeHtml(s.name)}</td><td>${s.requests}</td><td>${s.rps}</td><td>${s.p50Ms}</td><td>${s.p95Ms}</td><td>${s.p99Ms}</td><td>${s.maxMs}</td><td>${(s.errorRate * 100).toFixed(2)} %</td><td>${escapeHtml(formatStatuses(s.statuses))}</td>
<td>${s.verdicts.map((v) => `<span class="${v.passed ? 'ok' : 'bad'}">${escapeHtml(v.name)}: ${v.observed} / ${v.limit}</span>`).join('<br>')}</td></tr>`,
  )
  .join('')}</table>
${r.checks.map((c) => `<p class="${c.passed ? 'ok' : 'bad'}">${escapeHtml(c.name)}: ${c.observed} (limit ${c.limit})</p>`).join('')}`,
    )
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Load report</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ced4da;padding:4px 8px}.ok{color:#2b8a3e}.bad{color:#c92a2a}</style></head><body>
<h1>Load report: ${report.passed ? 'every threshold held' : 'THRESHOLDS BREACHED'}</h1>
<p>Target: ${escapeHtml(report.target)}. Started ${escapeHtml(report.startedAt)}, ${Math.round(report.durationMs / 1000)} s.</p>
<ul>${report.engines.map((e) => `<li><b>${escapeHtml(e.name)}</b>: ${e.ran ? 'ran' : 'did not run'} — ${escapeHtml(e.note)}</li>`).join('')}</ul>
${report.skipped.length ? `<h3>Not run</h3><ul>${report.skipped.map((s) => `<li>${escapeHtml(s.title)}: ${escapeHtml(s.reason)}</li>`).join('')}</ul>` : ''}
${sections}</body></html>`;
}

/** Writes `load-report.json` and `load-report.html` into `dir`. */
export function writeLoadReports(report: LoadReport, dir: string): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'load-report.json');
  const html = join(dir, 'load-report.html');
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(html, renderHtml(report));
  return { json, html };
}
