# The role ECS uses to start the task: pull the image, write its logs, and read exactly the settings in
# local.registry_task_secrets from Secrets Manager. ECS refuses a task definition with secrets but no such role.
data "aws_iam_policy_document" "registry_execution_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "registry_execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.registry_execution_assume.json
}

resource "aws_iam_role_policy_attachment" "registry_execution" {
  role       = aws_iam_role.registry_execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "registry_secrets" {
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(local.registry_task_secrets)
  }
}

resource "aws_iam_role_policy" "registry_secrets" {
  name   = "${var.name}-secrets"
  role   = aws_iam_role.registry_execution.id
  policy = data.aws_iam_policy_document.registry_secrets.json
}
