export { BASELINE, type BareKind, type BareServer, measureBaseline, measureRps, startBareServer } from './baseline.js';
export {
  ARRIVAL_TOLERANCE,
  judge,
  type Measured,
  planRuns,
  type Run,
  runStream,
  type StreamResult,
  type ThresholdVerdict,
} from './engine-node.js';
export { isK6Available, K6_SCRIPT, runK6 } from './k6-engine.js';
export { formatScenario, type LoadReport, renderHtml, writeLoadReports } from './report.js';
export { runScenario, type ScenarioResult } from './run-scenario.js';
export {
  LOAD_BULKHEAD,
  LOAD_CLIENTS,
  LOAD_MODEL,
  type Load,
  MLFLOW_CALL_COST_MS,
  needsToxiproxy,
  SATURATED_MIN_SERVED_SHARE,
  SATURATED_P99_MS,
  SATURATION_THINK_TIME_MS,
  SATURATION_USERS,
  SCENARIOS,
  type Scenario,
  SLOW_MLFLOW_CALL_BUDGET_MS,
  SLOW_MLFLOW_LATENCY_MS,
  SOAK_RESOURCES,
  type Stream,
  THRESHOLDS,
  type Thresholds,
} from './scenarios.js';
export {
  applyPrecondition,
  connectRemoteTarget,
  LOAD_CLIENT_KEYS,
  LOAD_SERVICE_ENV,
  type LoadTarget,
  readResources,
  restoreTarget,
  seedLoadModel,
  startLocalTarget,
  startServiceBeside,
} from './target.js';
