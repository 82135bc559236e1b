import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { buildTestApp } from './support/fakes.js';

/** A real pino logger at `level` whose JSON lines land in `lines` (route log levels are pino children). */
function jsonLogger(level: string) {
  const lines: { level: number; msg?: string; req?: { url?: string } }[] = [];
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
});
