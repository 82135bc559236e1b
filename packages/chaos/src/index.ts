export type { AttackSample } from './abuse/clients.js';
export {
  ABUSE_EXPERIMENTS,
  type AbuseExperiment,
  type AttackContext,
  type AttackOutcome,
} from './abuse/experiments.js';
export { type AbuseHypothesis, type AbuseObservation, SHARED_HYPOTHESES, type Verdict } from './abuse/hypotheses.js';
export {
  type AbuseLimits,
  admissionCap,
  CACHE_RSS_FACTOR,
  CUT_SLACK_MS,
  cacheRssAllowanceMb,
  RSS_HEADROOM_MB,
  readAbuseLimits,
} from './abuse/limits.js';
export { type LiveProbes, startLiveProbes } from './abuse/live-probes.js';
export { neighbourPorts, watchableMlflowPort } from './abuse/neighbours.js';
export { formatAbuseChecks, formatAbuseMatrix, renderAbuseHtml } from './abuse/report.js';
export { type AbuseCheck, type AbuseResult, runAbuseExperiment } from './abuse/runner.js';
export { STALL_THRESHOLD_MS, type StallWitness, startStallWitness } from './abuse/stall-witness.js';
export {
  CONTROLS,
  type Control,
  type ControlPlan,
  type ControlVerdict,
  controlPlan,
  judgeControl,
} from './controls.js';
export {
  type Capability,
  EXPERIMENTS,
  type Expectation,
  type Experiment,
  missingCapabilities,
  missingReason,
} from './experiments.js';
export {
  DEFAULT_FIS_TIMING,
  FIS_TAG,
  FIS_TEMPLATES,
  type FisTemplate,
  type FisTiming,
  fisExperiment,
  fisExperiments,
  LOCAL_ONLY,
} from './fis.js';
export {
  type BackendSample,
  type FleetWatch,
  isOutOfService,
  startFleetWatch,
  type WatchedReplica,
  watchedReplicas,
} from './fleet.js';
export {
  downBoundMs,
  FLEET_EXPERIMENTS,
  type FleetContext,
  type FleetEvent,
  type FleetExperiment,
  killAndReplace,
  type Replacement,
  rollReplica,
  upBoundMs,
} from './fleet-experiments.js';
export {
  type FleetResult,
  fleetMissingReason,
  runFleetExperiment,
  WRITES_LOST_TO_A_KILL,
} from './fleet-runner.js';
export {
  chaosFleet,
  DEFAULT_CONCURRENCY_RULE,
  DEFAULT_REPLICAS,
  DEFAULT_TIME_SCALE,
  DEREGISTRATION_DELAY_SECONDS,
  defaultConcurrency,
  FIXED_HEALTH_CHECK,
  type HealthCheckSettings,
  haproxyCheck,
  INCIDENT_HEALTH_CHECK,
  MAX_CONCURRENCY,
  MAX_REPLICAS,
  SHUTDOWN_DRAIN_DELAY_SECONDS,
} from './health-checks.js';
export {
  judgeLiveness,
  LIVE_MAX_MS,
  LIVE_P99_MS,
  type LivenessVerdict,
  livenessHypothesis,
  type Stall,
  slowProbesAllowed,
} from './liveness.js';
export { formatChecks, formatFleetTable, formatMatrix, renderHtml, writeReports } from './report.js';
export {
  type CheckResult,
  describeCheck,
  type ExperimentResult,
  type LoadBalancerView,
  loadBalancerView,
  runExperiment,
  waitForServersUp,
} from './runner.js';
export { type Bounds, CHAOS_SERVICE_ENV, deriveBounds, readServiceSettings } from './settings.js';
export {
  abortedAbuseResult,
  abortedFleetResult,
  resetProxy,
  runSuite,
  type SuiteReport,
  seedRegistry,
} from './suite.js';
export {
  type BreakerSample,
  DEFAULT_TRAFFIC_LIMITS,
  ROUTE_CLASSES,
  type RouteClass,
  type Sample,
  SEEDED_MODEL,
  type TrafficLimits,
} from './traffic.js';
export { formatVersions, type RanVersions, readVersions, UNREPORTED } from './versions.js';
