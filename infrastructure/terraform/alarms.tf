locals {
  # The three load-balancer alarms watch the registry's target group on the existing ALB.
  target_group_dimensions = {
    TargetGroup  = aws_lb_target_group.registry.arn_suffix
    LoadBalancer = var.alb_arn_suffix
  }
}

# Alarms on the load balancer's view and on the service's own embedded-metric-format metrics
# (CircuitBreakerTrips, CircuitBreakerOpen, ServiceHealthScore in namespace RegistryService).
resource "aws_cloudwatch_metric_alarm" "unhealthy_targets" {
  alarm_name          = "${var.name}-unhealthy-targets"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  dimensions          = local.target_group_dimensions
  alarm_actions       = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "target_5xx" {
  alarm_name          = "${var.name}-target-5xx"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 10
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = local.target_group_dimensions
  alarm_actions       = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "response_time" {
  alarm_name          = "${var.name}-response-time"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 1
  threshold           = 5
  comparison_operator = "GreaterThanThreshold"
  dimensions          = local.target_group_dimensions
  alarm_actions       = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "breaker_open" {
  alarm_name          = "${var.name}-circuit-breaker-open"
  alarm_description   = "The MLflow circuit breaker has been open for more than 5 minutes."
  namespace           = local.registry_environment.CLOUDWATCH_NAMESPACE
  metric_name         = "CircuitBreakerOpen"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    Service = "registry"
  }
  alarm_actions = [var.alarm_topic_arn]
}
