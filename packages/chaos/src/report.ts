import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeHtml } from '@registry/testkit';
import { renderAbuseHtml } from './abuse/report.js';
import { isOutOfService } from './fleet.js';
import type { FleetResult } from './fleet-runner.js';
import type { ExperimentResult } from './runner.js';
import type { SuiteReport } from './suite.js';
import { formatTable, formatVerdicts } from './text.js';
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

/** The fleet class as a table: each experiment, what happened to each replica, the verdict. */
export function formatFleetTable(results: readonly FleetResult[]): string {
  const rows = results.map((result) => [
    result.fault,
    result.replacements
      .map((r) =>
        r.how === 'kill'
          ? `${r.replica} DOWN after ${r.markedDownAfterMs ?? '-'} ms, new UP after ${r.upAfterMs ?? '-'} ms`
          : `${r.replica} exit ${r.exitCode}, new UP after ${r.upAfterMs ?? '-'} ms`,
      )
      .join('; ') || 'none',
    `${result.checks.filter((c) => c.passed).length}/${result.checks.length}`,
    result.passed ? 'PASS' : 'FAIL',
  ]);
  return formatTable(['experiment', 'replicas', 'hypotheses held', 'verdict'], rows);
}

/** One experiment's checks as text lines. */
export function formatChecks(result: Pick<ExperimentResult, 'checks'>): string {
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

const BACKEND_COLORS: Record<string, string> = { up: '#d3f9d8', going: '#fff3bf', down: '#ffc9c9', drain: '#d0ebff' };

/** The colour of an HAProxy server state: up, on its way (`UP 1/3`, `DOWN 1/2`), out of service, or drained. */
function backendColor(status: string): string {
  if (status.startsWith('DRAIN') || status.startsWith('NOLB')) return BACKEND_COLORS.drain as string;
  if (isOutOfService(status)) return (status.includes('/') ? BACKEND_COLORS.going : BACKEND_COLORS.down) as string;
  return (status.includes('/') ? BACKEND_COLORS.going : BACKEND_COLORS.up) as string;
}

/**
 * An inline SVG timeline: probe latency by route class (log scale, failures as crosses), the fault window,
 * and above them one band per replica breaker and one per server as each HAProxy saw it.
 */
/** What a timeline is drawn from: a fault experiment's, or a fleet experiment's (with its events). */
interface Timeline {
  readonly title: string;
  readonly timeline: Pick<
    ExperimentResult['timeline'],
    'startedAt' | 'injectedAt' | 'removedAt' | 'recoveredAt' | 'endedAt' | 'samples' | 'breakers' | 'loadBalancers'
  > & { readonly openedAt?: number | null; readonly events?: FleetResult['timeline']['events'] };
}

function timelineSvg(result: Timeline): string {
  const { timeline } = result;
  const width = 900;
  const plot = 200;
  const band = 14;
  const bands: { label: string; spans: { at: number; fill: string; title: string }[] }[] = [
    ...Object.entries(timeline.breakers).map(([name, samples]) => ({
      label: `breaker ${name}`,
      spans: samples.map((s) => ({ at: s.at, fill: STATE_COLORS[s.state] ?? '#dee2e6', title: s.state })),
    })),
    ...timeline.loadBalancers.flatMap((lb) => {
      const servers = [...new Set(lb.samples.flatMap((sample) => Object.keys(sample.servers)))];
      return servers.map((server) => ({
        label: `${lb.label} HAProxy: ${server}`,
        spans: lb.samples.map((sample) => {
          const status = sample.servers[server] ?? 'absent';
          return { at: sample.at, fill: backendColor(status), title: status };
        }),
      }));
    }),
  ];
  const top = bands.length * band;
  const height = top + plot;
  const t0 = timeline.startedAt;
  const span = Math.max(1, timeline.endedAt - t0);
  const x = (at: number) => ((at - t0) / span) * width;
  const maxLatency = Math.max(10, ...timeline.samples.map((s) => s.latencyMs));
  const y = (ms: number) => top + 10 + (1 - Math.log10(Math.max(1, ms)) / Math.log10(maxLatency)) * (plot - 30);
  const parts: string[] = [];
  parts.push(
    `<rect x="${x(timeline.injectedAt)}" y="${top}" width="${Math.max(1, x(timeline.removedAt) - x(timeline.injectedAt))}" height="${plot}" fill="#f1f3f5"/>`,
  );
  bands.forEach(({ label, spans }, row) => {
    spans.forEach((spanAt, i) => {
      const next = spans[i + 1]?.at ?? timeline.endedAt;
      parts.push(
        `<rect x="${x(spanAt.at)}" y="${row * band}" width="${Math.max(0.5, x(next) - x(spanAt.at))}" height="${band - 1}" fill="${spanAt.fill}"><title>${escapeHtml(label)}: ${escapeHtml(spanAt.title)}</title></rect>`,
      );
    });
    parts.push(`<text x="2" y="${row * band + band - 4}" font-size="9">${escapeHtml(label)}</text>`);
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
  for (const event of timeline.events ?? []) {
    const title = `${event.replica} ${event.what}${event.detail ? ` (${event.detail})` : ''}`;
    parts.push(
      `<line x1="${x(event.at)}" x2="${x(event.at)}" y1="${top}" y2="${height}" stroke="#e8590c"><title>${escapeHtml(title)}</title></line>`,
    );
  }
  for (const [at, name] of [
    [timeline.injectedAt, 'fault'],
    [timeline.openedAt ?? null, 'open'],
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
<p>Traffic through ${escapeHtml(report.serviceUrl)} to ${report.replicas.length} replica(s), started ${escapeHtml(report.startedAt)},
${Math.round(report.durationMs / 1000)} s. Bounds: open within ${report.bounds.openWithinMs} ms, recover within ${report.bounds.recoverWithinMs} ms,
fail fast under ${report.bounds.fastFailMs} ms. Load-balancer time scale 1/${report.timeScale}.</p>
${skipped ? `<h3>Not run</h3><ul>${skipped}</ul>` : ''}
${
  report.results.length === 0
    ? ''
    : `<h2>Fault experiments: MLflow fails</h2>
<table><tr><th>fault</th>${ROUTE_CLASSES.map((c) => `<th>${COLUMN_TITLES[c]}</th>`).join('')}<th>verdict</th></tr>${matrixRows}</table>
<p>Timelines: x is time, y is latency (log scale); crosses are 5xx or no answer; the top band is the breaker state
(green closed, yellow half-open, red open). Each HAProxy server band is that load balancer's own view (green UP,
yellow on the way up or down, red DOWN, blue drained); the grey area is the fault window. ${legend}</p>
${sections}`
}
${renderAbuseHtml(report.abuse)}
${
  report.fleet.length === 0
    ? ''
    : `<h2>Fleet experiments: replicas lost and replaced</h2><pre>${escapeHtml(formatFleetTable(report.fleet))}</pre>
<p>Orange lines mark what happened to the fleet (hover for details).</p>
${report.fleet
  .map(
    (r) => `<section><h2>${r.passed ? '&#10003;' : '&#10007;'} ${escapeHtml(r.title)}</h2>
<ul>${r.checks.map((c) => `<li class="${c.passed ? 'ok' : 'bad'}"><b>${escapeHtml(c.name)}</b>: ${escapeHtml(c.detail)}</li>`).join('')}</ul>
${timelineSvg(r)}</section>`,
  )
  .join('')}`
}</body></html>`;
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
