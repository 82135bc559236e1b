import { connect } from 'node:net';
import { freePort, startRecordingListener, waitFor } from '@registry/testkit';
import { describe, expect, it } from 'vitest';
import {
  type AttackSample,
  admissionCap,
  CHAOS_SERVICE_ENV,
  LIVE_MAX_MS,
  LIVE_P99_MS,
  neighbourPorts,
  readAbuseLimits,
  SHARED_HYPOTHESES,
} from '../src/index.js';

import { judge, observation } from './support/abuse-observation.js';

describe('SHARED_HYPOTHESES', () => {
  it('all hold for a refusal from the catalogue with a quiet breaker, memory and neighbourhood', () => {
    const failed = SHARED_HYPOTHESES.filter((h) => !h.judge(observation()).passed).map((h) => h.column);
    expect(failed).toEqual([]);
  });

  it('fails the breaker hypothesis when trips_total grew, even if the breaker closed again', () => {
    const verdict = judge('breaker', observation({ after: { state: 'closed', tripsTotal: 1 } }));
    expect(verdict).toMatchObject({ passed: false, figure: '1 trip(s)' });
  });

  it('fails the catalogue hypothesis for a framework code outside ERRORS', () => {
    const sample = observation().samples[0] as AttackSample;
    const framework = { ...sample, status: 414, code: 'FST_ERR_MAX_PARAM_LENGTH' };
    const verdict = judge('catalogue', observation({ samples: [framework] }));
    expect(verdict.passed).toBe(false);
  });

  it('fails the MLflow-only hypothesis on any connection to a neighbouring port', () => {
    const connection = {
      host: '127.0.0.1',
      port: 50015,
      at: 0,
      remoteAddress: '127.0.0.1:1',
      firstBytes: 'GET / HTTP/1.1',
    };
    const verdict = judge(
      'MLflow only',
      observation({ neighbours: { bound: ['127.0.0.1:50015'], connections: [connection] } }),
    );
    expect(verdict).toMatchObject({ passed: false, figure: '1 conn' });
  });

  it('fails the RSS hypothesis above the allowance', () => {
    const live = [{ routeClass: 'live' as const, at: 0, status: 200, latencyMs: 2, rssMb: 300 }];
    expect(judge('RSS', observation({ live })).passed).toBe(false);
  });

  it('fails the liveness hypothesis on one probe that is not 200, on more slow probes than 1 % allows and with no probe at all', () => {
    const probe = { routeClass: 'live' as const, at: 0, status: 200, latencyMs: 2, rssMb: 100 };
    expect(judge('liveness', observation({ live: [probe, { ...probe, status: 503 }] })).passed).toBe(false);
    const twoSlow = [
      ...Array.from({ length: 33 }, () => probe),
      ...[1, 2].map(() => ({ ...probe, latencyMs: LIVE_P99_MS + 1 })),
    ];
    expect(judge('liveness', observation({ live: twoSlow }))).toMatchObject({
      passed: false,
      figure: `p99 ${LIVE_P99_MS + 1} ms`,
    });
    expect(judge('liveness', observation({ live: [] })).passed).toBe(false);
  });

  it('passes the liveness hypothesis with one slow probe in a short attack, and fails it on one over the hard maximum', () => {
    const probe = { routeClass: 'live' as const, at: 0, status: 200, latencyMs: 31, rssMb: 100 };
    const oneStall = [...Array.from({ length: 34 }, () => probe), { ...probe, latencyMs: 528 }];
    expect(judge('liveness', observation({ live: oneStall })).passed).toBe(true);
    const oneOverMax = [...Array.from({ length: 34 }, () => probe), { ...probe, latencyMs: LIVE_MAX_MS + 1 }];
    expect(judge('liveness', observation({ live: oneOverMax })).passed).toBe(false);
  });

  it('tells beside the liveness verdict how long the service and the probing thread each held up their own loop', () => {
    const probe = { routeClass: 'live' as const, at: 0, status: 200, latencyMs: 1_137, rssMb: 100 };
    const verdict = judge(
      'liveness',
      observation({ live: [probe], serviceLoad: { loopMaxMs: 1_090, cpuShare: 0.42 }, probeLoopMaxMs: 12 }),
    );
    expect(verdict.passed).toBe(false);
    expect(verdict.detail).toContain(
      'the service during the attack: event loop delayed at most 1090 ms, CPU 42 % of a core',
    );
    expect(verdict.detail).toContain("the probing thread's own loop delayed at most 12 ms");
  });

  describe('liveness with stalls', () => {
    const probe = { routeClass: 'live' as const, at: 10_000, status: 200, latencyMs: 5, rssMb: 100 };
    const stalled = { ...probe, at: 20_000, latencyMs: 1_137 };
    const live = [...Array.from({ length: 37 }, () => probe), stalled];
    const covering = [{ from: 20_030, to: 21_100 }];
    const stalls = (machine: { from: number; to: number }[], prober: { from: number; to: number }[] = []) => ({
      machine,
      prober,
      raised: true,
    });

    it('judges a slow probe without the part of it during which the whole machine stood still', () => {
      const verdict = judge('liveness', observation({ live, stalls: stalls(covering) }));
      expect(verdict.passed).toBe(true);
      expect(verdict.detail).toContain("without the whole machine's stalls, max 67 ms");
    });

    it('takes off a stall once however often it was recorded, and only where it overlaps the probe', () => {
      const twoSlow = [...live, stalled];
      // 400 ms taken off each leaves two probes of 737 ms: one more than 1 % allows (800 ms would pass).
      const short = [{ from: 20_000, to: 20_400 }];
      expect(judge('liveness', observation({ live: twoSlow, stalls: stalls([...short, ...short]) })).passed).toBe(
        false,
      );
      const elsewhere = [{ from: 30_000, to: 31_100 }];
      expect(judge('liveness', observation({ live, stalls: stalls(elsewhere) })).passed).toBe(false);
    });

    it("never takes the probing thread's own stalls off a probe", () => {
      const verdict = judge('liveness', observation({ live, stalls: stalls([], covering) }));
      expect(verdict.passed).toBe(false);
      expect(verdict.detail).not.toContain('without the');
    });

    it('takes no stall off when the prober could not run at a raised priority, and says so', () => {
      const verdict = judge('liveness', observation({ live, stalls: { ...stalls(covering), raised: false } }));
      expect(verdict.passed).toBe(false);
      expect(verdict.detail).toContain('not at a raised priority here: no stall taken off');
    });
  });

  it('fails the answers hypothesis when a request gets another answer than its contract gives, or none was sent', () => {
    const sample = observation().samples[0] as AttackSample;
    const passedThrough = { ...sample, status: 200, code: undefined };
    expect(judge('answers', observation({ samples: [sample, passedThrough] }))).toMatchObject({
      passed: false,
      figure: '1/2',
    });
    expect(judge('answers', observation({ samples: [] })).passed).toBe(false);
  });

  it('fails the process hypothesis when the service crashed', () => {
    const crash = { name: 'crash', passed: false, detail: 'exited with code 1' };
    expect(judge('process', observation({ crash }))).toMatchObject({ passed: false, figure: 'CRASH' });
  });

  it('fails the breaker hypothesis of a hung MLflow when the breaker did not close after MLflow answered again', () => {
    const hung = { breakerExpectation: 'follows-mlflow' as const, faultRemovedAt: 1_000 };
    expect(judge('breaker', observation({ ...hung, recoveredAt: null }))).toMatchObject({
      passed: false,
      figure: 'not recovered',
    });
    expect(judge('breaker', observation({ ...hung, recoveredAt: 1_500 })).passed).toBe(true);
  });
});

describe('readAbuseLimits', () => {
  it("reads the limits as the service's own configuration parses them, and refuses what the service refuses", () => {
    expect(readAbuseLimits({ REQUEST_TIMEOUT: '45', CACHE_MAX_BYTES: '  ' })).toMatchObject({
      requestTimeoutMs: 45_000,
      cacheMaxBytes: readAbuseLimits({}).cacheMaxBytes,
    });
    expect(() => readAbuseLimits({ MLFLOW_QUEUE_SIZE: '1e3' })).toThrow('MLFLOW_QUEUE_SIZE');
  });

  it("admits one client's burst up to the bulkhead and its queue, or up to the client's share when that is smaller", () => {
    expect(admissionCap(readAbuseLimits(CHAOS_SERVICE_ENV))).toBe(32);
    expect(admissionCap(readAbuseLimits({ MLFLOW_CLIENT_MAX_CONCURRENCY: '5' }))).toBe(5);
    expect(admissionCap(readAbuseLimits({ MLFLOW_MAX_CONCURRENCY: '2', MLFLOW_QUEUE_SIZE: '1' }))).toBe(3);
  });
});

describe('neighbourPorts', () => {
  it('watches port*10+5 only when it is a valid port', () => {
    expect(neighbourPorts(5000)).toEqual([5001, 5002, 5003, 5004, 5005, 50005]);
    expect(neighbourPorts(40000)).toEqual([40001, 40002, 40003, 40004, 40005]);
  });
});

describe('startRecordingListener', () => {
  it('records a connection and its first bytes without answering', async () => {
    const port = await freePort();
    await using listener = await startRecordingListener({ ports: [port] });
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    socket.write('GET /stolen HTTP/1.1\r\nAuthorization: Bearer x\r\n\r\n');
    const [connection] = await waitFor(() => listener.connections().length > 0 && listener.connections(), {
      timeoutMs: 5_000,
      intervalMs: 20,
      what: 'the listener to record the connection',
    });
    socket.destroy();
    expect(listener.bound).toEqual([`127.0.0.1:${port}`]);
    expect(connection).toMatchObject({ port, firstBytes: expect.stringContaining('GET /stolen HTTP/1.1') });
  });
});
