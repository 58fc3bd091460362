# Your own knowledge base on ECS, without rebuilding the image: with
# kb_s3_uri set, a one-off task copies that S3 prefix into the task and runs
# `haink-worker ingest` on it (docs/deploy.md, "Your own knowledge base").
#
# Two containers share a task-local volume. kb-sync (the AWS CLI) runs
# `aws s3 sync` into /kb and exits; ingest (the worker image, the workers'
# environment and secrets) starts only when kb-sync has succeeded, reads /kb
# read-only and writes the index to Redis. The task role may only list and
# read that one prefix. Run it with `aws ecs run-task` (terraform/README.md,
# step 7); ingestion is idempotent, so running it again after changing the
# bucket updates the index (`--reindex` in an override rebuilds it).

locals {
  kb_ingest  = var.kb_s3_uri != ""
  kb_bucket  = local.kb_ingest ? regex("^s3://([^/]+)", var.kb_s3_uri)[0] : ""
  kb_prefix  = local.kb_ingest ? trim(replace(var.kb_s3_uri, "s3://${local.kb_bucket}", ""), "/") : ""
  kb_objects = local.kb_prefix == "" ? "arn:aws:s3:::${local.kb_bucket}/*" : "arn:aws:s3:::${local.kb_bucket}/${local.kb_prefix}/*"

  # both containers log to the worker log group under ingest/, with no capabilities
  ingest_logs = {
    logDriver = "awslogs"
    options = {
      awslogs-group         = aws_cloudwatch_log_group.worker.name
      awslogs-region        = var.aws_region
      awslogs-stream-prefix = "ingest"
    }
  }
  no_capabilities = { capabilities = { drop = ["ALL"] } }
}

resource "aws_iam_role" "ingest_task" {
  count              = local.kb_ingest ? 1 : 0
  name               = "${var.name}-${var.environment}-ingest-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "ingest_read_kb" {
  count = local.kb_ingest ? 1 : 0
  statement {
    sid       = "ListKnowledgeBasePrefix"
    actions   = ["s3:ListBucket"]
    resources = ["arn:aws:s3:::${local.kb_bucket}"]
    dynamic "condition" {
      for_each = local.kb_prefix == "" ? [] : [local.kb_prefix]
      content {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = [condition.value, "${condition.value}/*"]
      }
    }
  }
  statement {
    sid       = "ReadKnowledgeBaseObjects"
    actions   = ["s3:GetObject"]
    resources = [local.kb_objects]
  }
}

resource "aws_iam_role_policy" "ingest_read_kb" {
  count  = local.kb_ingest ? 1 : 0
  name   = "read-knowledge-base"
  role   = aws_iam_role.ingest_task[0].id
  policy = data.aws_iam_policy_document.ingest_read_kb[0].json
}

resource "aws_ecs_task_definition" "ingest" {
  count                    = local.kb_ingest ? 1 : 0
  family                   = "${var.name}-ingest"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker_cpu
  memory                   = var.worker_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.ingest_task[0].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "kb"
  }

  volume {
    name = "tmp"
  }

  volume {
    name = "sync-tmp"
  }

  container_definitions = jsonencode([
    {
      # Runs as root: Fargate creates task volumes owned by root, and this
      # container only writes the copy (no capabilities, nothing else).
      name                   = "kb-sync"
      image                  = var.kb_sync_image
      essential              = false
      command                = ["s3", "sync", var.kb_s3_uri, "/kb", "--only-show-errors", "--no-progress"]
      readonlyRootFilesystem = true
      environment = [
        { name = "HOME", value = "/tmp" },
        { name = "AWS_REGION", value = var.aws_region },
      ]
      mountPoints = [
        { sourceVolume = "kb", containerPath = "/kb", readOnly = false },
        { sourceVolume = "sync-tmp", containerPath = "/tmp", readOnly = false },
      ]
      linuxParameters  = local.no_capabilities
      logConfiguration = local.ingest_logs
    },
    {
      name                   = "ingest"
      image                  = local.worker_image
      essential              = true
      command                = ["ingest", "/kb"]
      user                   = "10001:10001"
      readonlyRootFilesystem = true
      dependsOn              = [{ containerName = "kb-sync", condition = "SUCCESS" }]
      environment            = [for k, v in local.worker_environment : { name = k, value = v }]
      secrets                = local.worker_secrets
      mountPoints = [
        { sourceVolume = "kb", containerPath = "/kb", readOnly = true },
        { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
      ]
      linuxParameters  = local.no_capabilities
      logConfiguration = local.ingest_logs
    },
  ])
}
