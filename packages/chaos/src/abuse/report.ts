import { escapeHtml } from '@registry/testkit';
import { formatTable, formatVerdicts } from '../text.js';
import { SHARED_HYPOTHESES } from './hypotheses.js';
import type { AbuseResult } from './runner.js';

const OWN_COLUMN = 'own checks';

function cell(result: AbuseResult, column: string): { text: string; passed: boolean } {
  if (column === OWN_COLUMN) {
    const own = result.checks.filter((c) => c.column === undefined);
    if (own.length === 0) return { text: '-', passed: true };
    const failed = own.filter((c) => !c.passed);
    return { text: own.map((c) => c.figure).join(', '), passed: failed.length === 0 };
  }
  const check = result.checks.find((c) => c.column === column);
  return check ? { text: check.figure, passed: check.passed } : { text: '-', passed: true };
}

const COLUMNS = [...SHARED_HYPOTHESES.map((h) => h.column), OWN_COLUMN];

/** The abuse matrix as text: attack x hypothesis, each cell the observed figure, `ok` or `FAIL`. */
export function formatAbuseMatrix(results: readonly AbuseResult[]): string {
  const header = ['attack', ...COLUMNS, 'verdict'];
  const rows = results.map((result) => [
    result.attack,
    ...COLUMNS.map((column) => {
      const { text, passed } = cell(result, column);
      return `${text} ${passed ? 'ok' : 'FAIL'}`;
    }),
    result.passed ? 'PASS' : 'FAIL',
  ]);
  return formatTable(header, rows);
}

/** One abuse experiment's verdicts as text lines. */
export function formatAbuseChecks(result: AbuseResult): string {
  return formatVerdicts(result.checks);
}

/** An inline SVG: liveness latency (dots, left scale) and RSS (line, right scale) over the experiment; the grey band is the attack. */
function healthSvg(result: AbuseResult): string {
  const { timeline, summary } = result;
  const width = 900;
  const height = 140;
  const t0 = timeline.startedAt;
  const span = Math.max(1, timeline.endedAt - t0);
  const x = (at: number) => (((at - t0) / span) * width).toFixed(1);
  const maxLatency = Math.max(10, ...timeline.live.map((s) => s.latencyMs));
  const rss = timeline.live.filter((s) => s.rssMb !== undefined);
  const maxRss = Math.max(summary.rssBoundMb, ...rss.map((s) => s.rssMb ?? 0));
  const yLatency = (ms: number) => (height - 12 - (ms / maxLatency) * (height - 24)).toFixed(1);
  const yRss = (mb: number) => (height - 12 - (mb / maxRss) * (height - 24)).toFixed(1);
  const parts = [
    `<rect x="${x(timeline.attackStartedAt)}" y="0" width="${Math.max(1, Number(x(timeline.attackEndedAt)) - Number(x(timeline.attackStartedAt)))}" height="${height}" fill="#f1f3f5"/>`,
    `<line x1="0" x2="${width}" y1="${yRss(summary.rssBoundMb)}" y2="${yRss(summary.rssBoundMb)}" stroke="#c92a2a" stroke-dasharray="4,3"><title>RSS bound ${summary.rssBoundMb} MB</title></line>`,
  ];
  if (rss.length > 1) {
    const points = rss.map((s) => `${x(s.at)},${yRss(s.rssMb ?? 0)}`).join(' ');
    parts.push(
      `<polyline points="${points}" fill="none" stroke="#e67700" stroke-width="1.5"><title>RSS</title></polyline>`,
    );
  }
  for (const sample of timeline.live) {
    parts.push(
      `<circle cx="${x(sample.at)}" cy="${yLatency(sample.latencyMs)}" r="1.8" fill="${sample.status === 200 ? '#2b8a3e' : '#c92a2a'}"><title>liveness ${sample.status ?? 'no answer'} ${sample.latencyMs} ms</title></circle>`,
    );
  }
  parts.push(`<text x="4" y="10" font-size="10">liveness latency (max ${maxLatency} ms)</text>`);
  parts.push(
    `<text x="${width - 4}" y="10" font-size="10" text-anchor="end" fill="#e67700">RSS (scale ${Math.round(maxRss)} MB; dashed: bound)</text>`,
  );
  return `<svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="liveness and memory during ${escapeHtml(result.title)}">${parts.join('')}</svg>`;
}

/** The abuse class in the HTML report: its matrix, then each experiment's verdicts, answers and health timeline. */
export function renderAbuseHtml(results: readonly AbuseResult[]): string {
  if (results.length === 0) return '';
  const header = `<tr><th>attack</th>${COLUMNS.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}<th>verdict</th></tr>`;
  const rows = results
    .map(
      (r) =>
        `<tr><th>${escapeHtml(r.attack)}</th>${COLUMNS.map((column) => {
          const { text, passed } = cell(r, column);
          return `<td class="${passed ? 'ok' : 'bad'}">${escapeHtml(text)}</td>`;
        }).join('')}<td class="${r.passed ? 'ok' : 'bad'}">${r.passed ? 'PASS' : 'FAIL'}</td></tr>`,
    )
    .join('');
  const sections = results
    .map((r) => {
      const answers = Object.entries(r.summary.answers)
        .sort((a, b) => b[1] - a[1])
        .map(([label, count]) => `${escapeHtml(label)} &times; ${count}`)
        .join(', ');
      return `<section><h3>${r.passed ? '&#10003;' : '&#10007;'} ${escapeHtml(r.title)} <small>(${escapeHtml(r.id)})</small></h3>
<p>${r.summary.requests} hostile requests in ${r.summary.attackMs} ms; answers: ${answers || 'none'}.
Breaker ${escapeHtml(r.summary.breakerBefore.state)} &rarr; ${escapeHtml(r.summary.breakerAfter.state)}
(trips_total ${r.summary.breakerBefore.tripsTotal} &rarr; ${r.summary.breakerAfter.tripsTotal}); RSS ${r.summary.baselineRssMb} &rarr; peak ${r.summary.peakRssMb} MB
(bound ${r.summary.rssBoundMb} MB); liveness p99 ${r.summary.liveP99Ms} ms, max ${r.summary.liveMaxMs} ms;
${r.summary.connections} connection(s) on ${escapeHtml(r.summary.watchedPorts.join(', ') || 'no watched port')}.</p>
<table><tr><th>hypothesis</th><th>verdict</th><th>detail</th></tr>${r.checks
        .map(
          (c) =>
            `<tr><td>${escapeHtml(c.name)}</td><td class="${c.passed ? 'ok' : 'bad'}">${c.passed ? 'holds' : 'FAILS'}</td><td>${escapeHtml(c.detail)}</td></tr>`,
        )
        .join('')}</table>
${healthSvg(r)}</section>`;
    })
    .join('');
  return `<h2>Abuse experiments: hostile clients</h2>
<p>Each row is an attack by clients of the service (MLflow healthy unless the attack says otherwise). Columns are the
hypotheses every attack is held to, then the attack's own checks; each cell is the observed figure.</p>
<table>${header}${rows}</table>${sections}`;
}
