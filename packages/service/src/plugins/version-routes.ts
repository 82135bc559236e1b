import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponses } from '../contract/common.js';
import { versionSchema } from '../contract/version.js';
import { SERVICE_VERSION } from '../version.js';

/** `GET /version`: name, version, environment and runtime; touches no dependency. */
export async function versionRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const schema = {
    summary: 'What is serving',
    tags: ['health'],
    response: { 200: versionSchema, ...errorResponses() },
  };
  app.get('/version', { schema }, async () => ({
    name: SERVICE_VERSION.name,
    version: SERVICE_VERSION.version,
    environment: app.registry.config.environment,
    node_version: process.version,
  }));
}
