import { createRequire } from 'node:module';

const manifest = createRequire(import.meta.url)('../package.json') as { name: string; version: string };

/** Name and version of the service package, as `/version` and `/health/status` report them. */
export const SERVICE_VERSION: { readonly name: string; readonly version: string } = Object.freeze({
  name: manifest.name,
  version: manifest.version,
});
