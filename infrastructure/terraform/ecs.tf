locals {
  registry_container_port = 8000

  # Plain settings of the service (every name must exist in its config schema; a contract test checks).
  registry_environment = {
    PORT                         = "8000"
    MLFLOW_TRACKING_URI          = var.mlflow_tracking_uri
    MLFLOW_REQUEST_TIMEOUT       = "10"
    MLFLOW_CB_FAILURE_THRESHOLD  = "3"
    MLFLOW_CB_RECOVERY_TIMEOUT   = "30"
    MLFLOW_HEALTH_PROBE_INTERVAL = "10"
    SHUTDOWN_DRAIN_DELAY         = "5"
    CLOUDWATCH_EMF_ENABLED       = "true"
    CLOUDWATCH_NAMESPACE         = "RegistryService"
    ENVIRONMENT                  = "production"
    # From the ALB's subnets, the client the ALB names in X-Forwarded-For is the one the admin lockout
    # counts and the audit log records (a connection from anywhere else cannot name one).
    TRUST_PROXY = join(",", var.alb_subnet_cidrs)
  }

  # Settings read from Secrets Manager by the task execution role (iam.tf), never plain environment.
  # ENVIRONMENT=production refuses to start without API_KEYS: clients must present one of the keys.
  registry_secrets = {
    ADMIN_TOKEN  = var.admin_token_secret_arn
    API_KEYS     = var.api_keys_secret_arn
    DATABASE_URL = var.database_url_secret_arn
  }

  # Secrets the task gets only when their variable names one (null: the setting stays unset).
  registry_optional_secrets = {
    API_READ_ONLY_KEYS = var.read_only_api_keys_secret_arn
  }

  registry_task_secrets = merge(local.registry_secrets, { for name, arn in local.registry_optional_secrets : name => arn if arn != null })

  container_health_check = {
    path         = "/health/live"
    interval     = 30
    timeout      = 10
    retries      = 3
    start_period = 60
  }
}

resource "aws_ecs_task_definition" "registry" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 1024
  memory                   = 2048
  execution_role_arn       = aws_iam_role.registry_execution.arn
  # AWS FIS network faults (fis.tf) go through the ECS agent's fault injection endpoints.
  enable_fault_injection = true

  container_definitions = jsonencode([
    {
      name         = "registry"
      image        = var.image
      essential    = true
      portMappings = [{ containerPort = local.registry_container_port, protocol = "tcp" }]
      environment  = [for key, value in local.registry_environment : { name = key, value = value }]
      secrets      = [for key, arn in local.registry_task_secrets : { name = key, valueFrom = arn }]
      healthCheck = {
        command     = ["CMD-SHELL", "node -e \"fetch('http://127.0.0.1:${local.registry_container_port}${local.container_health_check.path}').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))\""]
        interval    = local.container_health_check.interval
        timeout     = local.container_health_check.timeout
        retries     = local.container_health_check.retries
        startPeriod = local.container_health_check.start_period
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = "/ecs/${var.name}"
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = "registry"
        }
      }
    }
  ])
}

resource "aws_ecs_service" "registry" {
  name                               = var.name
  cluster                            = var.ecs_cluster_arn
  task_definition                    = aws_ecs_task_definition.registry.arn
  desired_count                      = 2
  launch_type                        = "FARGATE"
  deployment_maximum_percent         = 200
  deployment_minimum_healthy_percent = 100
  health_check_grace_period_seconds  = 60

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets         = var.private_subnet_ids
    security_groups = [var.service_security_group_id]
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.registry.arn
    container_name   = "registry"
    container_port   = local.registry_container_port
  }
}
