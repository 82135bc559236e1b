import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ROUTES } from '../contract/routes.js';
import { SERVICE_VERSION } from '../version.js';

/** `GET /version`: name, version, build, environment and runtime; touches no dependency. */
export async function versionRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.get(ROUTES.version.url, { schema: ROUTES.version.schema }, async () => ({
    name: SERVICE_VERSION.name,
    version: SERVICE_VERSION.version,
    environment: app.registry.config.environment,
    node_version: process.version,
    git_commit: SERVICE_VERSION.git_commit,
    build_date: SERVICE_VERSION.build_date,
  }));
}
