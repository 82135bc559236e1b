import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderAbuseHtml } from './abuse/report.js';
import type { ExperimentResult } from './runner.js';
import type { SuiteReport } from './suite.js';
import { escapeHtml, formatTable, formatVerdicts } from './text.js';
import { ROUTE_CLASSES, type RouteClass } from './traffic.js';
import { formatVersions } from './versions.js';

const COLUMN_TITLES: Record<RouteClass, string> = {
  live: 'liveness',
  ready: 'readiness',
  core: 'core API',
  cached_read: 'cached read',
  uncached_read: 'uncached read',
  write: 'write',
};

/** The resiliency matrix as text: fault x route class, observed outcome (expected when it differs). */
export function formatMatrix(results: readonly ExperimentResult[]): string {
  const header = ['fault', ...ROUTE_CLASSES.map((c) => COLUMN_TITLES[c]), 'verdict'];
  const rows = results.map((result) => [
    result.fault,
    ...ROUTE_CLASSES.map((c) => {
      const cell = result.matrix[c];
      return cell.matches ? `${cell.observed} ok` : `${cell.observed} (want ${cell.expected})`;
    }),
    result.passed ? 'PASS' : 'FAIL',
  ]);
  return formatTable(header, rows);
}

/** One experiment's checks as text lines. */
export function formatChecks(result: ExperimentResult): string {
  return formatVerdicts(result.checks);
}

const CLASS_COLORS: Record<RouteClass, string> = {
  live: '#2b8a3e',
  ready: '#1971c2',
  core: '#5f3dc4',
  cached_read: '#e67700',
  uncached_read: '#c2255c',
  write: '#495057',
};

const STATE_COLORS: Record<string, string> = { closed: '#d3f9d8', half_open: '#fff3bf', open: '#ffc9c9' };

/** An inline SVG timeline: probe latency by route class (log scale, failures as crosses), breaker state band, fault window. */
function timelineSvg(result: ExperimentResult): string {
  const { timeline } = result;
  const width = 900;
  const height = 220;
  const band = 18;
  const t0 = timeline.startedAt;
  const span = Math.max(1, timeline.endedAt - t0);
  const x = (at: number) => ((at - t0) / span) * width;
  const maxLatency = Math.max(10, ...timeline.samples.map((s) => s.latencyMs));
  const y = (ms: number) =>
    band + 10 + (1 - Math.log10(Math.max(1, ms)) / Math.log10(maxLatency)) * (height - band - 30);
  const parts: string[] = [];
  parts.push(
    `<rect x="${x(timeline.injectedAt)}" y="${band}" width="${Math.max(1, x(timeline.removedAt) - x(timeline.injectedAt))}" height="${height - band}" fill="#f1f3f5"/>`,
  );
  timeline.breaker.forEach((sample, i) => {
    const next = timeline.breaker[i + 1]?.at ?? timeline.endedAt;
    parts.push(
      `<rect x="${x(sample.at)}" y="0" width="${Math.max(0.5, x(next) - x(sample.at))}" height="${band}" fill="${STATE_COLORS[sample.state] ?? '#dee2e6'}"><title>${sample.state}</title></rect>`,
    );
  });
  for (const sample of timeline.samples) {
    const cx = x(sample.at).toFixed(1);
    const cy = y(sample.latencyMs).toFixed(1);
    const color = CLASS_COLORS[sample.routeClass];
    const ok = sample.status !== null && sample.status < 500;
    const title = `${sample.routeClass} ${sample.status ?? 'no answer'} ${sample.latencyMs} ms${sample.cache === 'stale' ? ' stale' : ''}`;
    parts.push(
      ok
        ? `<circle cx="${cx}" cy="${cy}" r="2" fill="${color}"><title>${title}</title></circle>`
        : `<text x="${cx}" y="${cy}" font-size="8" fill="${color}" text-anchor="middle"><title>${title}</title>x</text>`,
    );
  }
  for (const [at, name] of [
    [timeline.injectedAt, 'fault'],
    [timeline.openedAt, 'open'],
    [timeline.removedAt, 'removed'],
    [timeline.recoveredAt, 'closed'],
  ] as const) {
    if (at === null) continue;
    parts.push(`<line x1="${x(at)}" x2="${x(at)}" y1="0" y2="${height}" stroke="#212529" stroke-dasharray="3,3"/>`);
    parts.push(`<text x="${x(at) + 3}" y="${height - 4}" font-size="10">${name}</text>`);
  }
  return `<svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="timeline of ${escapeHtml(result.title)}">${parts.join('')}</svg>`;
}

/**
 * A self-contained HTML report (no external assets): the fault matrix, each fault experiment's checks and
 * timeline, then the abuse class (its matrix, each attack's verdicts and health timeline).
 */
export function renderHtml(report: SuiteReport): string {
  const legend = ROUTE_CLASSES.map(
    (c) => `<span style="color:${CLASS_COLORS[c]}">&#9679; ${COLUMN_TITLES[c]}</span>`,
  ).join(' ');
  const matrixRows = report.results
    .map(
      (r) =>
        `<tr><th>${escapeHtml(r.fault)}</th>${ROUTE_CLASSES.map((c) => {
          const cell = r.matrix[c];
          return `<td class="${cell.matches ? 'ok' : 'bad'}">${escapeHtml(cell.observed)}${cell.matches ? '' : `<br><small>want ${escapeHtml(cell.expected)}</small>`}</td>`;
        }).join('')}<td class="${r.passed ? 'ok' : 'bad'}">${r.passed ? 'PASS' : 'FAIL'}</td></tr>`,
    )
    .join('');
  const sections = report.results
    .map(
      (r) => `<section><h2>${r.passed ? '&#10003;' : '&#10007;'} ${escapeHtml(r.title)}</h2>
<ul>${r.checks.map((c) => `<li class="${c.passed ? 'ok' : 'bad'}"><b>${escapeHtml(c.name)}</b>: ${escapeHtml(c.detail)}</li>`).join('')}</ul>
${timelineSvg(r)}</section>`,
    )
    .join('');
  const skipped = report.skipped.map((s) => `<li>${escapeHtml(s.title)}: ${escapeHtml(s.reason)}</li>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Chaos report</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;max-width:1000px}table{border-collapse:collapse}td,th{border:1px solid #ced4da;padding:4px 8px;text-align:left}
.ok{background:#ebfbee}.bad{background:#fff5f5}li.ok,li.bad{background:none}li.bad{color:#c92a2a}section{margin-top:2rem}svg{border:1px solid #dee2e6}</style></head><body>
<h1>Chaos report: ${
    report.control
      ? `negative control ${escapeHtml(report.control.control)} ${report.control.held ? 'held' : 'DID NOT HOLD'}`
      : report.passed
        ? 'all hypotheses held'
        : 'HYPOTHESES FAILED'
  }</h1>
${report.control ? `<p>${escapeHtml(report.control.summary)}</p>` : ''}
<p>Provider <b>${escapeHtml(report.provider)}</b>, ${escapeHtml(formatVersions(report.versions))}.</p>
<p>Service ${escapeHtml(report.serviceUrl)}, started ${escapeHtml(report.startedAt)},
${Math.round(report.durationMs / 1000)} s. Bounds: open within ${report.bounds.openWithinMs} ms, recover within ${report.bounds.recoverWithinMs} ms,
fail fast under ${report.bounds.fastFailMs} ms. Load-balancer time scale 1/${report.timeScale}.</p>
${skipped ? `<h3>Not run</h3><ul>${skipped}</ul>` : ''}
${
  report.results.length === 0
    ? ''
    : `<h2>Fault experiments: MLflow fails</h2>
<table><tr><th>fault</th>${ROUTE_CLASSES.map((c) => `<th>${COLUMN_TITLES[c]}</th>`).join('')}<th>verdict</th></tr>${matrixRows}</table>
<p>Timelines: x is time, y is latency (log scale); crosses are 5xx or no answer; the top band is the breaker state
(green closed, yellow half-open, red open); the grey area is the fault window. ${legend}</p>
${sections}`
}
${renderAbuseHtml(report.abuse)}</body></html>`;
}

/** Writes `chaos-report.json` and `chaos-report.html` into `dir`; returns their paths. */
export function writeReports(report: SuiteReport, dir: string): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'chaos-report.json');
  const html = join(dir, 'chaos-report.html');
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(html, renderHtml(report));
  return { json, html };
}
