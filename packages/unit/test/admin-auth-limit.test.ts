import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ADMIN_AUTH, buildTestApp } from './support/fakes.js';
import { createCapturingLogger, type LogLine } from './support/logs.js';

const LIMIT = { ADMIN_AUTH_MAX_FAILURES: '2', ADMIN_AUTH_WINDOW: '60' };
const WRONG = { authorization: 'Bearer wrong-token-0123456789' };

type App = ReturnType<typeof buildTestApp>['app'];

const attempt = (app: App, headers: Record<string, string>, remoteAddress = '10.0.0.1') =>
  app.inject({ method: 'POST', url: '/health/mlflow/open', headers, remoteAddress });

const limitWarnings = (lines: readonly LogLine[]) =>
  lines.filter((line) => line.level === 'warn' && line.event === 'admin_auth_limited');

describe('Failed admin authentication limit', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers 429 TOO_MANY_REQUESTS with Retry-After once a client passes ADMIN_AUTH_MAX_FAILURES', async () => {
    const { app } = buildTestApp({ env: LIMIT });
    expect((await attempt(app, WRONG)).statusCode).toBe(401);
    expect((await attempt(app, {})).statusCode).toBe(401);
    const refused = await attempt(app, WRONG);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('60');
    expect(refused.json()).toMatchObject({
      code: 'TOO_MANY_REQUESTS',
      details: { retry_after_seconds: 60 },
      requestId: refused.headers['x-request-id'],
    });
  });

  it('counts an IPv6 client by its /64, so moving to another address in it does not start it afresh', async () => {
    const { app } = buildTestApp({ env: LIMIT });
    expect((await attempt(app, WRONG, '2001:db8:1:2::1')).statusCode).toBe(401);
    expect((await attempt(app, WRONG, '2001:db8:1:2::ffff')).statusCode).toBe(401);
    expect((await attempt(app, WRONG, '2001:db8:1:2:aaaa::3')).statusCode).toBe(429);
    expect((await attempt(app, WRONG, '2001:db8:1:3::1')).statusCode).toBe(401);
  });

  it('counts Retry-After down to the end of the window', async () => {
    const { app } = buildTestApp({ env: LIMIT });
    for (let i = 0; i < 2; i += 1) await attempt(app, WRONG);
    vi.advanceTimersByTime(20_000);
    expect((await attempt(app, WRONG)).headers['retry-after']).toBe('40');
  });

  it('lets the right token through while the client is refused, without counting it', async () => {
    const { app } = buildTestApp({ env: LIMIT });
    for (let i = 0; i < 3; i += 1) await attempt(app, WRONG);
    const admin = await attempt(app, ADMIN_AUTH);
    expect(admin.statusCode).toBe(200);
    expect(admin.json()).toMatchObject({ action: 'open', state: 'open' });
  });

  it('never counts requests with the right token as failures', async () => {
    const { app } = buildTestApp({ env: LIMIT });
    for (let i = 0; i < 5; i += 1) expect((await attempt(app, ADMIN_AUTH)).statusCode).toBe(200);
    expect((await attempt(app, WRONG)).statusCode).toBe(401);
    expect((await attempt(app, WRONG)).statusCode).toBe(401);
  });

  it('limits each client address on its own', async () => {
    const { app } = buildTestApp({ env: LIMIT });
    for (let i = 0; i < 3; i += 1) await attempt(app, WRONG, '10.0.0.1');
    expect((await attempt(app, WRONG, '10.0.0.2')).statusCode).toBe(401);
  });

  it('accepts failed attempts again after the window', async () => {
    const { app } = buildTestApp({ env: LIMIT });
    for (let i = 0; i < 3; i += 1) await attempt(app, WRONG);
    vi.advanceTimersByTime(60_000);
    expect((await attempt(app, WRONG)).statusCode).toBe(401);
  });

  it('shares the limit between the reset and open routes', async () => {
    const { app } = buildTestApp({ env: LIMIT });
    await attempt(app, WRONG);
    await attempt(app, WRONG);
    const reset = await app.inject({
      method: 'POST',
      url: '/health/mlflow/reset',
      headers: WRONG,
      remoteAddress: '10.0.0.1',
    });
    expect(reset.statusCode).toBe(429);
  });

  it('logs one warning per client and window, not one per refused attempt', async () => {
    const { logger, lines } = createCapturingLogger();
    const { app } = buildTestApp({ env: LIMIT, logger });
    for (let i = 0; i < 6; i += 1) await attempt(app, WRONG);
    const warnings = limitWarnings(lines);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ ip: '10.0.0.1', max_failures: 2, window_seconds: 60 });
  });

  const BEHIND_ALB = { ...LIMIT, TRUST_PROXY: '10.0.0.0/24' };
  const via = (client: string, headers: Record<string, string>) => ({ ...headers, 'x-forwarded-for': client });

  it('counts each client the trusted proxy names in X-Forwarded-For on its own', async () => {
    const { app } = buildTestApp({ env: BEHIND_ALB });
    for (let i = 0; i < 3; i += 1) await attempt(app, via('203.0.113.5', WRONG));
    expect((await attempt(app, via('203.0.113.5', WRONG))).statusCode).toBe(429);
    expect((await attempt(app, via('198.51.100.9', WRONG))).statusCode).toBe(401);
  });

  it('records the client the trusted proxy names in the audit of a manual action', async () => {
    const { app } = buildTestApp({ env: BEHIND_ALB });
    const admin = await attempt(app, via('2001:db8::7', ADMIN_AUTH));
    expect(admin.json().performed_by.ip).toBe('2001:db8::7');
  });

  it('ignores X-Forwarded-For from a peer outside TRUST_PROXY, so that no client escapes the limit by naming another address', async () => {
    const { app } = buildTestApp({ env: BEHIND_ALB });
    for (let i = 0; i < 2; i += 1) await attempt(app, via(`203.0.113.${i}`, WRONG), '192.168.7.7');
    expect((await attempt(app, via('203.0.113.99', WRONG), '192.168.7.7')).statusCode).toBe(429);
    const admin = await attempt(app, via('203.0.113.99', ADMIN_AUTH), '192.168.7.7');
    expect(admin.json().performed_by.ip).toBe('192.168.7.7');
  });

  it('ignores X-Forwarded-For without TRUST_PROXY', async () => {
    const { app } = buildTestApp({ env: LIMIT });
    for (let i = 0; i < 2; i += 1) await attempt(app, via(`203.0.113.${i}`, WRONG));
    expect((await attempt(app, via('203.0.113.99', WRONG))).statusCode).toBe(429);
  });

  it('takes only the address the trusted proxy added, not one a client put before it', async () => {
    const { app } = buildTestApp({ env: BEHIND_ALB });
    const admin = await attempt(app, via('1.2.3.4, 198.51.100.9', ADMIN_AUTH));
    expect(admin.json().performed_by.ip).toBe('198.51.100.9');
  });

  it('logs a warning for each client refused', async () => {
    const { logger, lines } = createCapturingLogger();
    const { app } = buildTestApp({ env: LIMIT, logger });
    for (const address of ['10.0.0.1', '10.0.0.2']) {
      for (let i = 0; i < 4; i += 1) await attempt(app, WRONG, address);
    }
    expect(limitWarnings(lines).map((line) => line.ip)).toEqual(['10.0.0.1', '10.0.0.2']);
  });
});
