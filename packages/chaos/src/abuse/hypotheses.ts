import { ERRORS } from '@registry/service';
import type { RecordedConnection } from '@registry/testkit';
import { judgeLiveness, livenessHypothesis, type Stall } from '../liveness.js';
import type { CheckResult } from '../runner.js';
import type { Bounds, ReportedBreakerSettings } from '../settings.js';
import type { BreakerSample, Sample } from '../traffic.js';
import type { AttackSample } from './clients.js';
import type { AbuseLimits } from './limits.js';
import { STALL_THRESHOLD_MS } from './stall-witness.js';

/** What the breaker must do during an attack. */
export type BreakerExpectation =
  /** Clients alone cannot move it: closed throughout, no trip counted. */
  | 'stays-closed'
  /** MLflow itself fails during the attack: the breaker may open, and closes by itself once MLflow is back. */
  | 'follows-mlflow';

/** The breaker as `/health/status` reported it at one moment. */
export interface BreakerReading {
  readonly state: string;
  readonly tripsTotal: number;
}

/** Everything observed during one abuse experiment; the hypotheses judge it. */
export interface AbuseObservation<F = unknown> {
  readonly breakerExpectation: BreakerExpectation;
  readonly rssAllowanceMb: number;
  readonly limits: AbuseLimits;
  readonly bounds: Bounds;
  readonly settings: ReportedBreakerSettings;
  /** Every answer the hostile clients got. */
  readonly samples: readonly AttackSample[];
  /** What the attack found out besides the answers (e.g. the victim's state in MLflow afterwards). */
  readonly facts: F;
  /** Liveness probes from the start of the attack to the end of the experiment. */
  readonly live: readonly Sample[];
  /**
   * The service's own view of the attack (from its `/metrics`, as an operator would see it): its longest
   * event-loop delay and the CPU it used, as a share of one core. Told beside liveness, so that a slow probe
   * says whether the service's loop was held up (its own work, or a machine that gave it no core) or not.
   */
  readonly serviceLoad?: { readonly loopMaxMs: number; readonly cpuShare: number };
  /** The probing thread's own longest event-loop delay, in ms (a probe's latency includes it). */
  readonly probeLoopMaxMs?: number;
  /**
   * Spans during which the probing thread (`prober`) and an idle process that only watches the clock
   * (`machine`) could not run; `raised` when both ran at the raised priority they ask for. Only then are
   * the machine's stalls the machine's (not a busy core's), and only they are taken off the probes.
   */
  readonly stalls?: { readonly prober: readonly Stall[]; readonly machine: readonly Stall[]; readonly raised: boolean };
  readonly breaker: readonly BreakerSample[];
  readonly before: BreakerReading;
  readonly after: BreakerReading;
  readonly baselineRssMb: number;
  readonly neighbours: {
    readonly bound: readonly string[];
    readonly connections: readonly RecordedConnection[];
  };
  readonly faultRemovedAt: number | null;
  readonly recoveredAt: number | null;
  /** The shared crash check (process alive, no fatal or unhandled log line). */
  readonly crash: CheckResult;
}

/** A hypothesis' verdict: pass or fail, why, and a short figure for the matrix cell. */
export interface Verdict {
  readonly passed: boolean;
  readonly detail: string;
  readonly figure: string;
}

/** One hypothesis: a name and a judge over the observation. */
export interface AbuseHypothesis<F = unknown> {
  readonly name: string;
  judge(observation: AbuseObservation<F>): Verdict;
}

/** A hypothesis every abuse experiment is held to, with its column in the resiliency matrix. */
export interface SharedHypothesis extends AbuseHypothesis {
  readonly column: string;
}

const catalogue = ERRORS as Readonly<Record<string, { readonly status: number }>>;

/** True when `code` is in the service's error catalogue. */
export function isCatalogueCode(code: string | undefined): code is string {
  return code !== undefined && Object.hasOwn(catalogue, code);
}

/** The catalogue status of `code`, if it is a catalogue code. */
export function catalogueStatus(code: string): number | undefined {
  return isCatalogueCode(code) ? catalogue[code]?.status : undefined;
}

/**
 * True when the answer is a well-formed catalogue error: a known code, the status the catalogue gives it,
 * and a requestId. A body-less answer (HEAD) is judged by its status against the codes it was allowed and
 * the `x-request-id` header.
 */
export function isCatalogueError(sample: AttackSample, allowedCodes: readonly string[] = []): boolean {
  if (sample.status === null) return false;
  if (sample.bodiless) {
    const statuses = allowedCodes.map(catalogueStatus);
    return statuses.includes(sample.status) && sample.headerRequestId !== undefined;
  }
  return (
    isCatalogueCode(sample.code) && catalogueStatus(sample.code) === sample.status && sample.requestId !== undefined
  );
}

/** An MLflow error relayed by the pass-through: MLflow's own JSON shape (`error_code`), not a refusal of the service. */
function isMlflowAnswer(sample: AttackSample): boolean {
  return sample.mlflowErrorCode !== undefined && sample.code === undefined;
}

/** How an answer reads in a report: status, code, and whether it was cut. */
export function outcomeLabel(sample: AttackSample): string {
  if (sample.status === null) return sample.gaveUp ? 'no answer (client gave up)' : 'cut';
  const code = sample.code ?? (sample.mlflowErrorCode ? `MLflow ${sample.mlflowErrorCode}` : '');
  return `${sample.status}${code ? ` ${code}` : ''}${sample.truncated ? ` cut after ${sample.bodyBytes} B` : ''}`;
}

/** True when the answer is what the attack expected of it (see `Expectation`). */
export function meetsExpectation(sample: AttackSample): boolean {
  const { expect } = sample;
  switch (expect.kind) {
    case 'refusal':
      return (
        isCatalogueError(sample, expect.codes) &&
        (expect.codes.length === 0 || sample.bodiless === true || expect.codes.includes(sample.code ?? ''))
      );
    case 'served':
      return (
        sample.status !== null &&
        !sample.truncated &&
        (sample.status < 400 || isMlflowAnswer(sample) || isCatalogueError(sample))
      );
    case 'complete':
      return sample.status === 200 && !sample.truncated && sample.bodyBytes === expect.bytes;
    case 'capped':
      return (
        (isCatalogueError(sample) && expect.codes.includes(sample.code ?? '')) ||
        (!sample.gaveUp && (sample.status === null || sample.truncated) && sample.bodyBytes <= expect.maxBytes)
      );
    case 'cut':
      return (
        !sample.gaveUp &&
        sample.latencyMs <= expect.withinMs &&
        (sample.status === null || sample.status === 408 || isCatalogueError(sample))
      );
  }
}

/** Answers grouped by label and outcome, most frequent first, as `label -> outcome (xN)`. */
export function describeSamples(samples: readonly AttackSample[], limit = 4): string {
  const groups = new Map<string, number>();
  for (const sample of samples) {
    const key = `${sample.label} -> ${outcomeLabel(sample)}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  const sorted = [...groups.entries()].sort((a, b) => b[1] - a[1]);
  const shown = sorted.slice(0, limit).map(([key, count]) => (count > 1 ? `${key} (x${count})` : key));
  return sorted.length > limit ? `${shown.join('; ')}; and ${sorted.length - limit} more` : shown.join('; ');
}

function verdict(passed: boolean, detail: string, figure: string): Verdict {
  return { passed, detail, figure };
}

/** A refusal the service answered itself: status 400 or more, not MLflow's own answer, not Node's bare 408 cut. */
function isRefusal(sample: AttackSample): boolean {
  if (sample.status === null || sample.status < 400) return false;
  if (sample.expect.kind === 'cut' && sample.status === 408 && sample.code === undefined) return false;
  return !isMlflowAnswer(sample);
}

/**
 * The hypotheses every abuse experiment is held to, in matrix order. Each judges only what a client or an
 * operator can observe: `/health/status`, `/health/live`, the answers, and the listeners next to MLflow.
 */
export const SHARED_HYPOTHESES: readonly SharedHypothesis[] = [
  {
    name: 'the breaker stays closed: no client can open it',
    column: 'breaker',
    judge(o) {
      const trips = o.after.tripsTotal - o.before.tripsTotal;
      if (o.breakerExpectation === 'follows-mlflow') {
        const recovered = o.recoveredAt !== null && o.faultRemovedAt !== null;
        return verdict(
          recovered,
          recovered
            ? `MLflow itself hung: ${trips} trip(s); closed by itself ${(o.recoveredAt ?? 0) - (o.faultRemovedAt ?? 0)} ms after MLflow answered again (bound ${o.bounds.recoverWithinMs} ms)`
            : `not closed within ${o.bounds.recoverWithinMs} ms after MLflow answered again (last state ${o.after.state})`,
          recovered ? `${trips} trip(s), recovered` : 'not recovered',
        );
      }
      const notClosed = o.breaker.filter((s) => s.state !== 'closed');
      const passed = o.before.state === 'closed' && o.after.state === 'closed' && notClosed.length === 0 && trips === 0;
      return verdict(
        passed,
        `before: ${o.before.state} (trips_total ${o.before.tripsTotal}); after: ${o.after.state} (trips_total ${o.after.tripsTotal}); ${notClosed.length} of ${o.breaker.length} samples during the attack not closed`,
        passed ? 'closed' : `${trips} trip(s)`,
      );
    },
  },
  {
    name: 'nothing but MLflow is reached: no connection on the ports next to it',
    column: 'MLflow only',
    judge(o) {
      const { bound, connections } = o.neighbours;
      const seen = connections
        .slice(0, 3)
        .map((c) => {
          const firstLine = c.firstBytes.split('\r\n')[0] ?? '';
          const authorization = /\r\nauthorization:/i.test(c.firstBytes) ? ' with the client Authorization header' : '';
          return `${c.host}:${c.port} "${firstLine}"${authorization}`;
        })
        .join('; ');
      const passed = bound.length > 0 && connections.length === 0;
      return verdict(
        passed,
        bound.length === 0
          ? 'no neighbouring port could be watched'
          : `${connections.length} connection(s) on ${bound.join(', ')}${seen ? `: ${seen}` : ''}`,
        `${connections.length} conn`,
      );
    },
  },
  {
    name: 'resident memory stays under the stated bound',
    column: 'RSS',
    judge(o) {
      const readings = o.live.map((s) => s.rssMb).filter((v): v is number => v !== undefined);
      const peak = Math.max(o.baselineRssMb, ...readings);
      const bound = o.baselineRssMb + o.rssAllowanceMb;
      return verdict(
        readings.length > 0 && peak <= bound,
        `${readings.length} readings; ${o.baselineRssMb} MB before, peak ${peak} MB; bound ${Math.round(bound)} MB (before + ${o.rssAllowanceMb} MB)`,
        `+${Math.round(peak - o.baselineRssMb)} MB`,
      );
    },
  },
  {
    name: livenessHypothesis(),
    column: 'liveness',
    judge(o) {
      const liveness = judgeLiveness(o.live, undefined, o.stalls?.raised ? o.stalls.machine : []);
      const load = o.serviceLoad
        ? `; the service during the attack: event loop delayed at most ${o.serviceLoad.loopMaxMs} ms, CPU ${Math.round(o.serviceLoad.cpuShare * 100)} % of a core`
        : '';
      const prober =
        o.probeLoopMaxMs === undefined ? '' : `; the probing thread's own loop delayed at most ${o.probeLoopMaxMs} ms`;
      const longest = (stalls: readonly Stall[]) => Math.max(0, ...stalls.map((stall) => stall.to - stall.from));
      const machine =
        o.stalls === undefined
          ? ''
          : `; longest stall (from ${STALL_THRESHOLD_MS} ms) of the probing thread ${longest(o.stalls.prober)} ms, of an idle process ${longest(o.stalls.machine)} ms${o.stalls.raised ? '' : ' (not at a raised priority here: no stall taken off)'}`;
      return verdict(liveness.passed, `${liveness.detail}${load}${prober}${machine}`, `p99 ${liveness.p99Ms} ms`);
    },
  },
  {
    name: 'every refusal is a catalogue error (code in ERRORS, its status, requestId)',
    column: 'catalogue',
    judge(o) {
      const refusals = o.samples.filter(isRefusal);
      const allowed = (s: AttackSample) => (s.expect.kind === 'refusal' ? s.expect.codes : []);
      const outside = refusals.filter((s) => !isCatalogueError(s, allowed(s)));
      return verdict(
        outside.length === 0,
        `${refusals.length} refusals, ${outside.length} outside the catalogue${outside.length ? `: ${describeSamples(outside)}` : ''}`,
        `${refusals.length - outside.length}/${refusals.length}`,
      );
    },
  },
  {
    name: 'every hostile request gets the answer the contract gives it',
    column: 'answers',
    judge(o) {
      const unexpected = o.samples.filter((s) => !meetsExpectation(s));
      return verdict(
        o.samples.length > 0 && unexpected.length === 0,
        `${o.samples.length} requests, ${unexpected.length} unexpected${unexpected.length ? `: ${describeSamples(unexpected)}` : ''}`,
        `${o.samples.length - unexpected.length}/${o.samples.length}`,
      );
    },
  },
  {
    name: 'no crash and no unhandled rejection',
    column: 'process',
    judge(o) {
      return verdict(o.crash.passed, o.crash.detail, o.crash.passed ? 'up' : 'CRASH');
    },
  },
];
