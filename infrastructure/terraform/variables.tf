variable "aws_region" {
  type    = string
  default = "us-east-1"
}

variable "name" {
  type    = string
  default = "registry"
}

variable "vpc_id" {
  type = string
}

variable "private_subnet_ids" {
  type = list(string)
}

variable "ecs_cluster_arn" {
  type = string
}

variable "alb_arn_suffix" {
  type        = string
  description = "ARN suffix of the existing application load balancer (for alarm dimensions)."
}

variable "service_security_group_id" {
  type        = string
  description = "Security group of the service's tasks: it must admit the ALB only (the tasks trust the X-Forwarded-For of alb_subnet_cidrs)."
}

variable "alb_subnet_cidrs" {
  type        = list(string)
  description = "CIDR blocks of the ALB's subnets: the service's TRUST_PROXY, so that the admin lockout and the audit log see the client the ALB names in X-Forwarded-For (the ALB must append to it, its default)."

  validation {
    condition     = length(var.alb_subnet_cidrs) > 0 && alltrue([for cidr in var.alb_subnet_cidrs : can(cidrhost(cidr, 0)) && !endswith(cidr, "/0")])
    error_message = "alb_subnet_cidrs must list the ALB's subnet CIDR blocks (not /0)."
  }
}

variable "image" {
  type        = string
  description = "Container image of the registry service."
}

variable "mlflow_tracking_uri" {
  type = string
}

variable "admin_token_secret_arn" {
  type        = string
  description = "Secrets Manager ARN holding ADMIN_TOKEN."
}

variable "api_keys_secret_arn" {
  type        = string
  description = "Secrets Manager ARN holding API_KEYS (comma-separated client keys): with ENVIRONMENT=production the service refuses to start without them."
}

variable "read_only_api_keys_secret_arn" {
  type        = string
  default     = null
  description = "Secrets Manager ARN holding API_READ_ONLY_KEYS (comma-separated keys that may only read); null: no read-only keys."
}

variable "database_url_secret_arn" {
  type        = string
  description = "Secrets Manager ARN holding DATABASE_URL."
}

variable "alarm_topic_arn" {
  type = string
}

variable "mlflow_host" {
  type        = string
  description = "MLflow's host name or address as the tasks reach it (the FIS network faults target it)."
}

variable "mlflow_port" {
  type        = number
  default     = 5000
  description = "MLflow's port as the tasks reach it (the FIS blackhole targets it)."
}
