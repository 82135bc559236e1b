export { removeStaleContainers } from './cleanup.js';
export { CONTAINER_LABEL, docker, isDockerAvailable } from './docker.js';
export { type HaproxyContainer, startHaproxyContainer } from './haproxy.js';
export { ensureImages, haproxyImage, MLFLOW_IMAGE, postgresImage, TOXIPROXY_IMAGE } from './images.js';
export {
  CONTAINER_NETWORKINGS,
  type ContainerNetworking,
  containerNetworkingFromEnv,
  isHostNetworkOnly,
  networkUnavailableReason,
  parseContainerNetworking,
} from './networking.js';
export { type ContainerDependencies, startContainerDependencies } from './start.js';
