// The benchmark's baseline: a bare Fastify route returning the same body as the service's /health/live,
// computed the same way (the service's own memory sampler), with nothing else: no hooks, no logging, no
// metrics, no request ids. Usage: node dist/bare-server.js PORT
import { createMemorySampler } from '@registry/service';
import Fastify from 'fastify';

const port = Number(process.argv[2] ?? 0);
const startedAt = Date.now();
const memoryMb = createMemorySampler(() => Date.now());
const app = Fastify({ logger: false });
app.get('/health/live', async () => ({
  alive: true,
  uptime_seconds: Math.round((Date.now() - startedAt) / 100) / 10,
  memory_usage_mb: memoryMb(),
}));
await app.listen({ host: '127.0.0.1', port });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
