import { createRegistryClient } from '@registry/service/client';
import type { Stack } from '@registry/testkit';

/** What ran, as each part reports it about itself (not the versions the harness pinned). */
export interface RanVersions {
  /** The service's `/version`: its version and the commit it was built from (`unknown` without git). */
  readonly service: string;
  readonly serviceCommit: string;
  /** MLflow's `/version`. */
  readonly mlflow: string;
  /** Toxiproxy's `/version`. */
  readonly toxiproxy: string;
  /** HAProxy's own version (`show info` on its runtime API); `none` when the stack has no load balancer. */
  readonly haproxy: string;
}

/** Shown for a part that did not say (not reachable from the harness, or an answer that is no version). */
export const UNREPORTED = 'unknown';

/** The text of `GET url` (trimmed), or undefined when the part does not answer 200 in time. */
async function versionText(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return response.status === 200 ? (await response.text()).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Toxiproxy answers `{"version": "..."}`; older releases answered the bare version. */
function toxiproxyVersion(text: string | undefined): string {
  if (text === undefined) return UNREPORTED;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && 'version' in parsed) return String(parsed.version);
  } catch {
    // the bare version
  }
  return text;
}

/** Asks the service, MLflow and Toxiproxy of `stack` which versions they are. */
export async function readVersions(stack: Stack): Promise<RanVersions> {
  const [service, mlflow, toxiproxy, haproxy] = await Promise.all([
    createRegistryClient({ baseUrl: stack.service.url })
      .version()
      .catch(() => undefined),
    stack.mlflow ? versionText(`${stack.mlflow.url}/version`) : undefined,
    stack.toxiproxy ? versionText(`${stack.toxiproxy.url}/version`) : undefined,
    stack.loadBalancer ? stack.loadBalancer.version().catch(() => UNREPORTED) : 'none',
  ]);
  const stamp = service?.status === 200 ? service.body : undefined;
  return {
    service: stamp?.version ?? UNREPORTED,
    serviceCommit: stamp?.git_commit ?? UNREPORTED,
    mlflow: mlflow ?? UNREPORTED,
    toxiproxy: toxiproxyVersion(toxiproxy),
    haproxy,
  };
}

/** What ran, on one line: the service and its commit, MLflow, Toxiproxy, HAProxy. */
export function formatVersions(versions: RanVersions): string {
  const { service, serviceCommit, mlflow, toxiproxy, haproxy } = versions;
  return `service ${service} (commit ${serviceCommit}), MLflow ${mlflow}, Toxiproxy ${toxiproxy}, HAProxy ${haproxy}`;
}
