resource "aws_ecs_cluster" "this" {
  name = var.name

  # Container Insights provides RunningTaskCount for the task-count alarms.
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

# ---------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------
resource "aws_ecs_task_definition" "api" {
  family                   = "${var.name}-api"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.api_cpu
  memory                   = var.api_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.api_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # Task-local scratch space for /tmp; the root filesystem is read-only.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = "api"
      image                  = local.api_image
      essential              = true
      user                   = "10001:10001"
      readonlyRootFilesystem = true
      # 8080: Slack and the Dev UI, through the ALB. 9091 (API_METRICS_PORT):
      # Prometheus /metrics only; no listener rule or security group rule
      # reaches it from the ALB or the internet.
      portMappings = [
        { name = "http", containerPort = 8080, protocol = "tcp" },
        { name = "metrics", containerPort = 9091, protocol = "tcp" },
      ]
      environment = [for k, v in local.api_environment : { name = k, value = v }]
      secrets     = local.api_secrets
      mountPoints = [
        { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
      ]
      linuxParameters = {
        capabilities = { drop = ["ALL"] }
      }
      healthCheck = {
        command     = ["CMD", "haink-api", "--healthcheck"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 15
      }
      # SIGKILL after 120 s (Fargate's maximum): above SHUTDOWN_GRACE_S (100 s).
      stopTimeout = 120
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.api.name
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = "api"
        }
      }
    },
  ])
}

resource "aws_ecs_service" "api" {
  name             = "${var.name}-api"
  cluster          = aws_ecs_cluster.this.id
  task_definition  = aws_ecs_task_definition.api.arn
  desired_count    = var.api_min_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  propagate_tags   = "SERVICE"

  # Start new tasks before stopping old ones; roll back a deployment whose
  # tasks do not become healthy.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 30

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.api.id]
    assign_public_ip = var.assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.api.arn
    container_name   = "api"
    container_port   = 8080
  }

  # Application Auto Scaling owns the task count after creation.
  lifecycle {
    ignore_changes = [desired_count]
  }

  # The listener rule: no traffic before the paths are routed. The REDIS_URL
  # secret version: with create_elasticache the value exists only once
  # ElastiCache does (10+ minutes into a first apply); tasks started earlier
  # would fail, trip the circuit breaker and leave the service stopped.
  depends_on = [
    aws_lb_listener.http,
    aws_lb_listener.https,
    aws_lb_listener_rule.api_paths,
    aws_secretsmanager_secret_version.redis_url,
  ]
}

# ---------------------------------------------------------------------------
# Worker
# ---------------------------------------------------------------------------
resource "aws_ecs_task_definition" "worker" {
  family                   = "${var.name}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker_cpu
  memory                   = var.worker_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.worker_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = "worker"
      image                  = local.worker_image
      essential              = true
      command                = ["run"]
      user                   = "10001:10001"
      readonlyRootFilesystem = true
      portMappings = [
        { name = "metrics", containerPort = 9090, protocol = "tcp" },
      ]
      environment = [for k, v in local.worker_environment : { name = k, value = v }]
      secrets     = local.worker_secrets
      mountPoints = [
        { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
      ]
      linuxParameters = {
        capabilities = { drop = ["ALL"] }
      }
      # `haink-worker healthcheck` GETs /livez on METRICS_PORT: up from
      # process start (before Redis or the knowledge base), failing only when
      # a task thread is stuck. A Redis failover therefore does not make ECS
      # replace workers; 60 s of start period covers a slow image start.
      healthCheck = {
        command     = ["CMD", "haink-worker", "healthcheck"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 60
      }
      # The worker stops reading on SIGTERM and finishes in-flight tasks
      # within SHUTDOWN_GRACE_S (100 s, longer than one LLM call); at that
      # deadline it releases what is left for immediate redelivery. SIGKILL
      # comes at 120 s, Fargate's maximum.
      stopTimeout = 120
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.worker.name
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = "worker"
        }
      }
    },
  ])
}

resource "aws_ecs_service" "worker" {
  name             = "${var.name}-worker"
  cluster          = aws_ecs_cluster.this.id
  task_definition  = aws_ecs_task_definition.worker.arn
  desired_count    = var.worker_min_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  propagate_tags   = "SERVICE"

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.worker.id]
    assign_public_ip = var.assign_public_ip
  }

  lifecycle {
    ignore_changes = [desired_count]
  }

  # See the API service: no task before REDIS_URL has its value.
  depends_on = [aws_secretsmanager_secret_version.redis_url]
}
