// The benchmark's baseline: a bare Fastify route returning the same body as the service's /health/live,
// with nothing else (no hooks, no logging, no metrics). Usage: node dist/bare-server.js PORT
import Fastify from 'fastify';

const port = Number(process.argv[2] ?? 0);
const startedAt = Date.now();
const app = Fastify({ logger: false });
app.get('/health/live', async () => ({
  alive: true,
  uptime_seconds: Math.round((Date.now() - startedAt) / 100) / 10,
  memory_usage_mb: Math.round((process.memoryUsage().rss / 1024 / 1024) * 10) / 10,
}));
await app.listen({ host: '127.0.0.1', port });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
