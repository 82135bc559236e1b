export {
  type AwsClients,
  createAwsClients,
  describeServices,
  describeTargets,
  forceNewDeployment,
  hasAwsCredentials,
  nextTaskDefinitionInput,
  type ServiceState,
  type TargetState,
} from './aws.js';
export { type DeployDeps, type DeployReport, deploy, rollback, waitForStable } from './deploy.js';
export {
  CHECK_IDS,
  type CheckId,
  type CheckStatus,
  type DiagnoseOptions,
  type Diagnosis,
  type DiagnosticCheck,
  diagnose,
  formatDiagnosis,
} from './diagnose.js';
export {
  type BreakerResetPlan,
  planBreakerReset,
  type RecoveryAction,
  type RecoveryReport,
  recover,
} from './recover.js';
