import { docker } from './docker.js';

/**
 * How the containers reach each other: `host`, every server on a free loopback port of the host's
 * network (engines without a bridge, as dockerd --bridge=none here); `network`, a network created for
 * the run, Toxiproxy reaching MLflow by its alias and the host reaching both through mapped ports
 * (laptops, hosted CI).
 */
export type ContainerNetworking = 'host' | 'network';

/** The values `REGISTRY_CONTAINERS_NETWORK` accepts. */
export const CONTAINER_NETWORKINGS: readonly ContainerNetworking[] = ['host', 'network'];

/** True when the engine has no default bridge network, as on machines where dockerd runs with --bridge=none. */
let hostNetworkOnly: boolean | undefined;

export function isHostNetworkOnly(): boolean {
  // Read once per process: the engine's networks do not change under a run.
  hostNetworkOnly ??= !docker(['network', 'ls', '--format', '{{.Name}}']).split('\n').includes('bridge');
  return hostNetworkOnly;
}

/**
 * The networking chosen by `REGISTRY_CONTAINERS_NETWORK`; unset, `host` when the engine has no default
 * bridge network and `network` otherwise. Throws on an unknown value.
 */
export function containerNetworkingFromEnv(env: NodeJS.ProcessEnv = process.env): ContainerNetworking {
  const value = env.REGISTRY_CONTAINERS_NETWORK;
  if (!value) return isHostNetworkOnly() ? 'host' : 'network';
  return parseContainerNetworking(value, 'REGISTRY_CONTAINERS_NETWORK');
}

/** `value` as a networking; throws naming `source` (the variable or option it came from) and the accepted values. */
export function parseContainerNetworking(value: string, source: string): ContainerNetworking {
  if (!(CONTAINER_NETWORKINGS as readonly string[]).includes(value)) {
    throw new Error(`${source}: expected one of ${CONTAINER_NETWORKINGS.join(', ')} (got "${value}")`);
  }
  return value as ContainerNetworking;
}

/**
 * Why `network` networking cannot run on this engine ('' when it can). testcontainers creates a container
 * that has network aliases on the engine's default bridge and then connects it to the created network,
 * and publishes its ports through that bridge: without one (dockerd --bridge=none), the mapped ports
 * never answer.
 */
export function networkUnavailableReason(): string {
  return isHostNetworkOnly()
    ? 'the engine has no default bridge network (dockerd --bridge=none), which testcontainers needs to publish the ports of aliased containers'
    : '';
}
