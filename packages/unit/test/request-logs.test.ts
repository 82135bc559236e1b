import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { buildTestApp, tripBreaker } from './support/fakes.js';

interface LogLine {
  level: number;
  msg?: string;
  req?: { url?: string };
  code?: string;
  refused?: number;
  err?: unknown;
}

/** A real pino logger at `level` whose JSON lines land in `lines` (route log levels are pino children). */
function jsonLogger(level: string) {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

const requestLogsOf = (lines: { msg?: string; req?: { url?: string } }[], url: string) =>
  lines.filter((line) => line.msg === 'incoming request' && line.req?.url === url);

describe('Request logs', () => {
  it('writes no request log for a probe at the default level, while API routes keep theirs', async () => {
    const { logger, lines } = jsonLogger('info');
    const { app } = buildTestApp({ logger, env: { LOG_LEVEL: 'info' } });
    for (const url of ['/health/live', '/health/ready', '/health', '/health/status', '/health/mlflow', '/version']) {
      await app.inject({ url });
    }
    for (const probe of ['/health/live', '/health/ready', '/health', '/health/status', '/health/mlflow']) {
      expect(requestLogsOf(lines, probe), probe).toEqual([]);
    }
    expect(requestLogsOf(lines, '/version')).toHaveLength(1);
  });

  it('logs probes like every route at debug, for an operator who is debugging', async () => {
    const { logger, lines } = jsonLogger('debug');
    const { app } = buildTestApp({ logger, env: { LOG_LEVEL: 'debug' } });
    await app.inject({ url: '/health/live' });
    expect(requestLogsOf(lines, '/health/live')).toHaveLength(1);
  });

  it('logs an MLflow failure once per request, with its cause, since the breaker bounds how many there are', async () => {
    const { logger, lines } = jsonLogger('warn');
    const { app, mlflow } = buildTestApp({ logger, env: { LOG_LEVEL: 'warn' } });
    await tripBreaker(app, mlflow);
    const failures = lines.filter((line) => line.code === 'MLFLOW_UNREACHABLE');
    expect(failures).toHaveLength(3);
    expect(failures[0]?.err).toMatchObject({ type: 'ServiceError' });
  });

  it('logs the first refusal of a code at once and the ones after it as one line per interval with their count', async () => {
    const { logger, lines } = jsonLogger('warn');
    let clock = 1_000_000;
    const { app, mlflow } = buildTestApp({ logger, env: { LOG_LEVEL: 'warn' }, now: () => clock });
    await tripBreaker(app, mlflow);
    const refusalLines = () => lines.filter((line) => line.code === 'MLFLOW_CIRCUIT_OPEN');
    for (let i = 0; i < 5; i += 1) {
      expect((await app.inject('/api/v1/models/fraud-refused')).json().code).toBe('MLFLOW_CIRCUIT_OPEN');
    }
    expect(refusalLines()).toEqual([expect.objectContaining({ refused: 1 })]);
    expect(refusalLines()[0]).not.toHaveProperty('err');
    clock += 10_000; // REFUSAL_LOG_INTERVAL_MS; the breaker stays open for 30 s
    expect((await app.inject('/api/v1/models/fraud-refused')).json().code).toBe('MLFLOW_CIRCUIT_OPEN');
    expect(refusalLines()).toHaveLength(2);
    expect(refusalLines()[1]).toMatchObject({
      refused: 5,
      msg: expect.stringContaining('5 refused with MLFLOW_CIRCUIT_OPEN in the last 10 s'),
    });
  });
});
