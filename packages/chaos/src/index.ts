export { type Capability, EXPERIMENTS, type Expectation, type Experiment, missingCapabilities } from './experiments.js';
export {
  DEFAULT_TIME_SCALE,
  FIXED_HEALTH_CHECK,
  type HealthCheckSettings,
  INCIDENT_HEALTH_CHECK,
  startTargetHealthChecker,
  type TargetHealthReport,
} from './load-balancer.js';
export { formatChecks, formatMatrix, renderHtml, writeReports } from './report.js';
export { type CheckResult, type ExperimentResult, runExperiment } from './runner.js';
export { type Bounds, CHAOS_SERVICE_ENV, deriveBounds, readServiceSettings } from './settings.js';
export { resetProxy, runSuite, type SuiteReport, seedRegistry } from './suite.js';
