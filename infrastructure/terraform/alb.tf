# Target group of the registry service. The health check is liveness: MLflow being down must never take
# targets out of service (the incident: readiness answered 503, every target went unhealthy).
locals {
  health_check = {
    path                = "/health/live"
    healthy_threshold   = 2
    unhealthy_threshold = 3
    timeout             = 10
    interval            = 30
    matcher             = "200-299"
  }
}

resource "aws_lb_target_group" "registry" {
  name                 = "${var.name}-tg"
  port                 = local.registry_container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = local.health_check.path
    healthy_threshold   = local.health_check.healthy_threshold
    unhealthy_threshold = local.health_check.unhealthy_threshold
    timeout             = local.health_check.timeout
    interval            = local.health_check.interval
    matcher             = local.health_check.matcher
  }
}
