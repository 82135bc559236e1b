// The benchmark's reference servers, with the same body as the service's /health/live computed the same
// way (the service's own memory sampler) and nothing else: no hooks, no logging, no metrics, no request
// ids. `fastify`: a bare Fastify route (the baseline the service is held to); `node-http`: Node's own
// http server (the physical ceiling of this machine). Usage: node dist/bare-server.js PORT [fastify|node-http]
import { createServer } from 'node:http';
import { createMemorySampler } from '@registry/service';
import Fastify from 'fastify';

const port = Number(process.argv[2] ?? 0);
const kind = process.argv[3] ?? 'fastify';
const startedAt = Date.now();
const memoryMb = createMemorySampler(() => Date.now());
const body = () => ({
  alive: true,
  uptime_seconds: Math.round((Date.now() - startedAt) / 100) / 10,
  memory_usage_mb: memoryMb(),
});

if (kind === 'node-http') {
  const server = createServer((request, response) => {
    if (request.url !== '/health/live') {
      response.writeHead(404).end();
      return;
    }
    const payload = JSON.stringify(body());
    response.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
    });
    response.end(payload);
  });
  server.listen(port, '127.0.0.1');
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
} else {
  const app = Fastify({ logger: false });
  app.get('/health/live', async () => body());
  await app.listen({ host: '127.0.0.1', port });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}
