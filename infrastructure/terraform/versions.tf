terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.85" # 5.85.0 added enable_fault_injection to aws_ecs_task_definition (fis.tf)
    }
  }
}

provider "aws" {
  region = var.aws_region
}
