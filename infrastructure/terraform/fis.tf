# AWS Fault Injection Service: the chaos suite's faults on a deployed stack, where Toxiproxy cannot sit
# in front of MLflow. `npm run chaos -- --provider external --fis` starts each template by its
# `registry-chaos` tag (the id of the local experiment it mirrors) and judges the same hypotheses through
# the load balancer. packages/ops/test/infrastructure.test.ts checks these against the local fault list.
locals {
  # Longest a fault may last if the run that started it dies; the run stops each one itself much sooner.
  fis_max_duration = "PT10M"

  # Fargate tasks take network faults through the ECS agent's fault injection endpoints
  # (enable_fault_injection on the task definition), no SSM agent sidecar needed.
  fis_network = { useEcsFaultInjectionEndpoints = "true", duration = local.fis_max_duration }

  fis_faults = {
    mlflow-blackhole = {
      mirrors     = "blackhole"
      description = "Packets to MLflow's port dropped (egress blackhole): calls hang until the request timeout"
      action      = "aws:ecs:task-network-blackhole-port"
      selection   = "ALL"
      parameters  = merge(local.fis_network, { port = tostring(var.mlflow_port), protocol = "tcp", trafficType = "egress" })
    }
    mlflow-unreachable = {
      mirrors     = "mlflow-down"
      description = "Every packet to MLflow lost: MLflow unreachable from every task"
      action      = "aws:ecs:task-network-packet-loss"
      selection   = "ALL"
      parameters  = merge(local.fis_network, { lossPercent = "100", sources = var.mlflow_host })
    }
    mlflow-latency-below-timeout = {
      mirrors     = "latency-below-timeout"
      description = "MLflow 2 s slower (a fifth of MLFLOW_REQUEST_TIMEOUT): must not trip the breaker"
      action      = "aws:ecs:task-network-latency"
      selection   = "ALL"
      parameters  = merge(local.fis_network, { delayMilliseconds = "2000", jitterMilliseconds = "0", sources = var.mlflow_host })
    }
    mlflow-latency-above-timeout = {
      mirrors     = "latency-above-timeout"
      description = "MLflow 20 s slower (twice MLFLOW_REQUEST_TIMEOUT): the breaker opens"
      action      = "aws:ecs:task-network-latency"
      selection   = "ALL"
      parameters  = merge(local.fis_network, { delayMilliseconds = "20000", jitterMilliseconds = "0", sources = var.mlflow_host })
    }
    task-stop = {
      mirrors     = "replica-loss"
      description = "One registry task stopped: the load balancer takes it out, ECS replaces it"
      action      = "aws:ecs:stop-task"
      selection   = "COUNT(1)"
      parameters  = {}
    }
  }

  # The alarms that stop an experiment going further than it should: a target marked unhealthy (the
  # incident), answers slowing down, a breaker that stays open. Not target_5xx: while the breaker is open,
  # uncached reads and writes answer 503 at once by design, more than its 10 a minute under the run's own
  # traffic, so it would end every fault that opens the breaker within its first minute. The run judges
  # those 503s itself: only MLflow-bound routes may answer them, each with a truthful Retry-After.
  fis_stop_alarms = {
    unhealthy_targets = aws_cloudwatch_metric_alarm.unhealthy_targets.arn
    response_time     = aws_cloudwatch_metric_alarm.response_time.arn
    breaker_open      = aws_cloudwatch_metric_alarm.breaker_open.arn
  }
}

resource "aws_iam_role" "fis" {
  name = "${var.name}-fis"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "fis.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "fis_ecs" {
  role       = aws_iam_role.fis.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSFaultInjectionSimulatorECSAccess"
}

resource "aws_fis_experiment_template" "registry" {
  for_each    = local.fis_faults
  description = each.value.description
  role_arn    = aws_iam_role.fis.arn

  dynamic "stop_condition" {
    for_each = local.fis_stop_alarms
    content {
      source = "aws:cloudwatch:alarm"
      value  = stop_condition.value
    }
  }

  action {
    name      = each.key
    action_id = each.value.action
    target {
      key   = "Tasks"
      value = "registry-tasks"
    }
    dynamic "parameter" {
      for_each = each.value.parameters
      content {
        key   = parameter.key
        value = parameter.value
      }
    }
  }

  # The tasks of the registry service, which run aws_ecs_task_definition.registry.
  target {
    name           = "registry-tasks"
    resource_type  = "aws:ecs:task"
    selection_mode = each.value.selection
    parameters = {
      cluster = var.ecs_cluster_arn
      service = aws_ecs_service.registry.name
    }
  }

  tags = {
    Name             = "${var.name}-${each.key}"
    "registry-chaos" = each.value.mirrors
    task-definition  = aws_ecs_task_definition.registry.family
  }
}
