// `@registry/service/client`: the typed client and the contract it is built on, without the server.
export * from './contract/index.js';
export {
  type Answer,
  type CallInput,
  ContractError,
  createRegistryClient,
  type MetricFamily,
  type MetricSample,
  type MetricsReading,
  type RegistryClient,
  type RegistryClientOptions,
  readMetrics,
} from './registry-client.js';
