import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const manifest = createRequire(import.meta.url)('../package.json') as { name: string; version: string };

/** What is serving: the package, and the build stamped by `bin/build-info.mjs` (absent when run from source). */
export interface ServiceVersion {
  readonly name: string;
  readonly version: string;
  /** The commit built, or `unknown` when the service runs from source or was built without git. */
  readonly git_commit: string;
  /** When the build ran (ISO 8601), or null when the service runs from source. */
  readonly build_date: string | null;
}

function readBuildInfo(): { git_commit: string; build_date: string | null } {
  try {
    const info = JSON.parse(readFileSync(new URL('./build-info.json', import.meta.url), 'utf8')) as {
      git_commit?: unknown;
      build_date?: unknown;
    };
    return {
      git_commit: typeof info.git_commit === 'string' ? info.git_commit : 'unknown',
      build_date: typeof info.build_date === 'string' ? info.build_date : null,
    };
  } catch {
    return { git_commit: 'unknown', build_date: null };
  }
}

/** Name, version and build of the service, as `/version`, `/health` and `/health/status` report them. */
export const SERVICE_VERSION: ServiceVersion = Object.freeze({
  name: manifest.name,
  version: manifest.version,
  ...readBuildInfo(),
});
