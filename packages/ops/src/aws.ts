import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  type TaskDefinition,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';

/** The AWS API clients the toolkit uses; tests pass clients mocked with aws-sdk-client-mock. */
export interface AwsClients {
  readonly ecs: ECSClient;
  readonly elb: ElasticLoadBalancingV2Client;
}

/**
 * True when credentials are configured through the environment or the shared files. The instance
 * metadata service is deliberately not probed: the toolkit never calls an address it was not given.
 */
export function hasAwsCredentials(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return true;
  if (env.AWS_PROFILE || env.AWS_WEB_IDENTITY_TOKEN_FILE || env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) return true;
  const home = env.HOME ?? homedir();
  return existsSync(env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials'));
}

/** Real clients for `region`. */
export function createAwsClients(region: string): AwsClients {
  return { ecs: new ECSClient({ region }), elb: new ElasticLoadBalancingV2Client({ region }) };
}

/** One registered target and its health as the load balancer sees it. */
export interface TargetState {
  readonly targetGroupArn: string;
  readonly id: string;
  readonly port: number | undefined;
  readonly state: string;
  readonly reason: string | undefined;
}

/** Health of every target in the target groups. */
export async function describeTargets(
  elb: ElasticLoadBalancingV2Client,
  targetGroupArns: readonly string[],
): Promise<TargetState[]> {
  const states: TargetState[] = [];
  for (const targetGroupArn of targetGroupArns) {
    const answer = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
    for (const description of answer.TargetHealthDescriptions ?? []) {
      states.push({
        targetGroupArn,
        id: description.Target?.Id ?? 'unknown',
        port: description.Target?.Port,
        state: description.TargetHealth?.State ?? 'unknown',
        reason: description.TargetHealth?.Reason,
      });
    }
  }
  return states;
}

/** An ECS service's counts and current task definition. */
export interface ServiceState {
  readonly name: string;
  readonly running: number;
  readonly desired: number;
  readonly pending: number;
  readonly taskDefinition: string | undefined;
  readonly deployments: number;
  readonly rolloutState: string | undefined;
}

/** Running vs desired counts of ECS services. */
export async function describeServices(
  ecs: ECSClient,
  cluster: string,
  services: readonly string[],
): Promise<ServiceState[]> {
  if (services.length === 0) return [];
  const answer = await ecs.send(new DescribeServicesCommand({ cluster, services: [...services] }));
  return (answer.services ?? []).map((service) => ({
    name: service.serviceName ?? 'unknown',
    running: service.runningCount ?? 0,
    desired: service.desiredCount ?? 0,
    pending: service.pendingCount ?? 0,
    taskDefinition: service.taskDefinition,
    deployments: service.deployments?.length ?? 0,
    rolloutState: service.deployments?.find((d) => d.status === 'PRIMARY')?.rolloutState,
  }));
}

/** Restarts a service's tasks (a new deployment of the same task definition). */
export async function forceNewDeployment(ecs: ECSClient, cluster: string, service: string): Promise<void> {
  await ecs.send(new UpdateServiceCommand({ cluster, service, forceNewDeployment: true }));
}

/** Points a service at a task definition. */
export async function updateServiceTaskDefinition(
  ecs: ECSClient,
  cluster: string,
  service: string,
  taskDefinition: string,
): Promise<void> {
  await ecs.send(new UpdateServiceCommand({ cluster, service, taskDefinition }));
}

/** The full task definition behind an ARN or family:revision. */
export async function describeTaskDefinition(ecs: ECSClient, taskDefinition: string): Promise<TaskDefinition> {
  const answer = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition }));
  if (!answer.taskDefinition) throw new Error(`ECS has no task definition ${taskDefinition}`);
  return answer.taskDefinition;
}

/** The registration input that recreates `definition`, with `image` on `container` when given. */
export function nextTaskDefinitionInput(
  definition: TaskDefinition,
  change: { image?: string; container?: string },
): RegisterTaskDefinitionCommandInput {
  const containers = (definition.containerDefinitions ?? []).map((container, index) => {
    const isTarget = change.container ? container.name === change.container : index === 0;
    return isTarget && change.image ? { ...container, image: change.image } : container;
  });
  if (change.container && !containers.some((c) => c.name === change.container)) {
    throw new Error(`task definition ${definition.family} has no container named ${change.container}`);
  }
  return {
    family: definition.family,
    containerDefinitions: containers,
    taskRoleArn: definition.taskRoleArn,
    executionRoleArn: definition.executionRoleArn,
    networkMode: definition.networkMode,
    volumes: definition.volumes,
    requiresCompatibilities: definition.requiresCompatibilities,
    cpu: definition.cpu,
    memory: definition.memory,
    runtimePlatform: definition.runtimePlatform,
  };
}

/** Registers a task definition; returns its ARN. */
export async function registerTaskDefinition(
  ecs: ECSClient,
  input: RegisterTaskDefinitionCommandInput,
): Promise<string> {
  const answer = await ecs.send(new RegisterTaskDefinitionCommand(input));
  const arn = answer.taskDefinition?.taskDefinitionArn;
  if (!arn) throw new Error('ECS registered the task definition but returned no ARN');
  return arn;
}
