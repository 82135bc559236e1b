import type { FastifyInstance } from 'fastify';
import { SERVICE_VERSION } from '../version.js';

/** `GET /version`: name, version, environment and runtime; touches no dependency. */
export async function versionRoutes(app: FastifyInstance): Promise<void> {
  app.get('/version', async () => ({
    name: SERVICE_VERSION.name,
    version: SERVICE_VERSION.version,
    environment: app.registry.config.environment,
    node_version: process.version,
  }));
}
