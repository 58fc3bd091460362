locals {
  https_enabled = var.certificate_arn != ""

  api_image    = "${aws_ecr_repository.this["api"].repository_url}:${var.image_tag}"
  worker_image = "${aws_ecr_repository.this["worker"].repository_url}:${var.image_tag}"

  # ElastiCache (Redis OSS) has no Query Engine: use the in-process index.
  vector_backend = var.create_elasticache ? "local" : var.vector_backend

  # Plain container environment. Keys are exactly the variable names the
  # binaries read (tests/deploy/check_deploy.sh verifies them against
  # common/config.c); anything unset takes the binary's default.
  common_environment = {
    DOCKET_NAME      = var.docket_name
    APP_ID           = var.app_id
    AGENTS_FILE      = "/opt/haink/agents.json"
    SHUTDOWN_GRACE_S = tostring(var.shutdown_grace_s)
    LOG_LEVEL        = var.log_level
    LOG_FORMAT       = "json"
  }

  api_environment = merge(local.common_environment, {
    PORT             = "8080"
    API_METRICS_PORT = "9091"
  })

  worker_environment = merge(local.common_environment, {
    METRICS_PORT       = "9090"
    WORKER_CONCURRENCY = tostring(var.worker_concurrency)
    LLM_PROVIDER       = var.llm_provider
    CHAT_MODEL         = var.chat_model
    VECTOR_BACKEND     = local.vector_backend
    # One worker (a lease in Redis) writes the queue figures every 60 s as
    # CloudWatch Embedded Metric Format lines; awslogs ships them and
    # CloudWatch turns them into the Haink/* metrics the worker step scaling
    # and the queue alarms use (worker/queue/emf.h).
    QUEUE_METRICS_EMF = "true"
  })

  # Secrets: container variable name => services that receive it. Each one
  # is a Secrets Manager secret named "<name>/<VARIABLE>" injected through
  # the task definition's `secrets`, never through `environment`.
  secret_env = merge(
    {
      SLACK_SIGNING_SECRET = ["api"]
      SLACK_BOT_TOKEN      = ["worker"]
      REDIS_URL            = ["api", "worker"]
    },
    var.llm_provider == "openai" ? { OPENAI_API_KEY = ["worker"] } : {},
    var.enable_web_search ? { TAVILY_API_KEY = ["worker"] } : {},
    var.enable_dev_ui ? { UI_TOKEN = ["api"] } : {},
  )

  # When Terraform writes REDIS_URL, the task definitions name the exact
  # secret version (ARN:json-key:version-stage:version-id, the middle two
  # empty): they depend on it, so no task starts before the value exists,
  # and a new URL rolls both services.
  secret_value_from = {
    for name, services in local.secret_env : name => (
      name == "REDIS_URL" && local.manage_redis_url
      ? "${aws_secretsmanager_secret.app[name].arn}:::${aws_secretsmanager_secret_version.redis_url[0].version_id}"
      : aws_secretsmanager_secret.app[name].arn
    )
  }

  api_secrets = [
    for name, services in local.secret_env : {
      name      = name
      valueFrom = local.secret_value_from[name]
    } if contains(services, "api")
  ]

  worker_secrets = [
    for name, services in local.secret_env : {
      name      = name
      valueFrom = local.secret_value_from[name]
    } if contains(services, "worker")
  ]
}
