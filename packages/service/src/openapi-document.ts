import { buildApp } from './app.js';
import { loadConfig } from './config.js';

/**
 * The OpenAPI document of the service as `GET /openapi.json` serves it, built from the route schemas of an
 * app with the default settings (nothing is started or called). `docs/openapi.json` is this document.
 */
export async function buildOpenApiDocument(): Promise<Record<string, unknown>> {
  const app = buildApp({ config: loadConfig({ MLFLOW_HEALTH_PROBE_INTERVAL: '0', LOG_LEVEL: 'silent' }) });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}

/** The document as it is written to `docs/openapi.json`: two-space JSON with a final newline. */
export function formatOpenApiDocument(document: Record<string, unknown>): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
