# ---------------------------------------------------------------------------
# Where and what
# ---------------------------------------------------------------------------
variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
}

variable "name" {
  description = "Prefix for every resource name (ECR repositories, cluster, services, secrets, alarms)."
  type        = string
  default     = "haink"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 characters of lowercase letters, digits and hyphens (ALB names are limited to 32 characters)."
  }
}

variable "environment" {
  description = "Environment name (production, staging, ...): a tag on every resource and part of the IAM role names, which are account-wide, so two environments can share an account."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.environment))
    error_message = "environment must be 1-16 characters of lowercase letters, digits and hyphens (it is part of IAM role names, at most 64 characters)."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource."
  type        = map(string)
  default     = {}
}

variable "image_tag" {
  description = "Image tag to deploy from both ECR repositories (for example the git commit). Tags are immutable in ECR."
  type        = string
}

# ---------------------------------------------------------------------------
# Network (an existing VPC; this module does not create one)
# ---------------------------------------------------------------------------
variable "vpc_id" {
  description = "VPC that holds the load balancer, the tasks and (optionally) ElastiCache."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets for the internet-facing ALB (at least two availability zones)."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "An ALB needs subnets in at least two availability zones."
  }
}

variable "private_subnet_ids" {
  description = "Subnets for the Fargate tasks and ElastiCache. They need outbound internet (NAT) for Slack, the LLM API, ECR and Secrets Manager, unless VPC endpoints provide the AWS ones."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Give tasks public IPs. Only for subnets without NAT (tasks in public subnets)."
  type        = bool
  default     = false
}

variable "allowed_ingress_cidrs" {
  description = "CIDR blocks allowed to reach the ALB. Slack calls from the public internet, so the default is open."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener. Empty: HTTP only (Slack requires HTTPS request URLs, so empty is for testing or for a TLS terminator in front)."
  type        = string
  default     = ""
}

variable "alb_deletion_protection" {
  description = "Protect the ALB from deletion (set false before terraform destroy)."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------
# Task sizes and scaling
# ---------------------------------------------------------------------------
variable "api_cpu" {
  description = "API task CPU units (1024 = 1 vCPU)."
  type        = number
  default     = 256
}

variable "api_memory" {
  description = "API task memory, MiB."
  type        = number
  default     = 512
}

variable "worker_cpu" {
  description = "Worker task CPU units."
  type        = number
  default     = 512
}

variable "worker_memory" {
  description = "Worker task memory, MiB. With VECTOR_BACKEND=local the knowledge-base vectors live in process memory."
  type        = number
  default     = 1024
}

variable "api_min_count" {
  description = "Minimum (and initial) number of API tasks."
  type        = number
  default     = 2
}

variable "api_max_count" {
  description = "Maximum number of API tasks."
  type        = number
  default     = 10
}

variable "worker_min_count" {
  description = "Minimum (and initial) number of worker tasks."
  type        = number
  default     = 2
}

variable "worker_max_count" {
  description = "Maximum number of worker tasks."
  type        = number
  default     = 10
}

variable "api_cpu_target" {
  description = "Target average CPU utilisation (%) for API target tracking."
  type        = number
  default     = 60
}

variable "api_requests_per_target" {
  description = "Target ALB requests per API task per minute for request-count target tracking."
  type        = number
  default     = 1000
}

variable "worker_cpu_target" {
  description = "Target average CPU utilisation (%) for worker target tracking."
  type        = number
  default     = 60
}

variable "worker_queue_depth_scaling" {
  description = "Step scale-out of the workers on Haink/QueueDepth (tasks not yet delivered), which one worker publishes every minute as CloudWatch Embedded Metric Format log lines (QUEUE_METRICS_EMF)."
  type        = bool
  default     = true
}

variable "worker_queue_depth_threshold" {
  description = "Haink/QueueDepth (undelivered tasks) at which the step policy adds worker tasks."
  type        = number
  default     = 20
}

# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------
variable "redis_url" {
  description = "REDIS_URL to store in Secrets Manager (e.g. a Redis Cloud / Redis 8 endpoint, rediss://user:pass@host:port/0). Empty: put the value into the secret yourself (keeps it out of Terraform state). Ignored when create_elasticache is true."
  type        = string
  default     = ""
  sensitive   = true
}

variable "create_elasticache" {
  description = "Create an ElastiCache (Redis OSS 7.1) replication group and point REDIS_URL at it. ElastiCache has no Query Engine, so workers use VECTOR_BACKEND=local."
  type        = bool
  default     = false
}

variable "elasticache_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "elasticache_engine_version" {
  description = "ElastiCache Redis OSS engine version (streams consumer groups with XAUTOCLAIM need 6.2+)."
  type        = string
  default     = "7.1"
}

# ---------------------------------------------------------------------------
# Application settings (plain environment; secrets are in secrets.tf)
# ---------------------------------------------------------------------------
variable "docket_name" {
  description = "DOCKET_NAME: the task stream is docket:{<name>}:tasks."
  type        = string
  default     = "haink"
}

variable "app_id" {
  description = "APP_ID: part of every long-term memory key."
  type        = string
  default     = "haink"
}

variable "llm_provider" {
  description = "LLM_PROVIDER for the workers: openai (needs the OPENAI_API_KEY secret) or offline."
  type        = string
  default     = "openai"

  validation {
    condition     = contains(["openai", "offline"], var.llm_provider)
    error_message = "llm_provider must be openai or offline."
  }
}

variable "chat_model" {
  description = "CHAT_MODEL for the workers."
  type        = string
  default     = "gpt-4o-mini"
}

variable "vector_backend" {
  description = "VECTOR_BACKEND (auto, redis or local). Forced to local when create_elasticache is true."
  type        = string
  default     = "auto"

  validation {
    condition     = contains(["auto", "redis", "local"], var.vector_backend)
    error_message = "vector_backend must be auto, redis or local."
  }
}

variable "enable_web_search" {
  description = "Create and inject the TAVILY_API_KEY secret (enables the web_search tool)."
  type        = bool
  default     = false
}

variable "worker_concurrency" {
  description = "WORKER_CONCURRENCY: task threads per worker task."
  type        = number
  default     = 8
}

variable "shutdown_grace_s" {
  description = "SHUTDOWN_GRACE_S: how long a stopping task finishes in-flight work (longer than one LLM call). Must stay below the containers' stopTimeout (120 s, Fargate's maximum)."
  type        = number
  default     = 100

  validation {
    condition     = var.shutdown_grace_s > 0 && var.shutdown_grace_s <= 110
    error_message = "shutdown_grace_s must be between 1 and 110 so the process exits before ECS sends SIGKILL at 120 s."
  }
}

variable "enable_dev_ui" {
  description = "Serve the Dev UI: creates the <name>/UI_TOKEN secret for the API and routes /ui and /ui/* through the ALB. Off: the ALB answers 404 there."
  type        = bool
  default     = false
}

variable "log_level" {
  description = "LOG_LEVEL: debug, info, warn or error."
  type        = string
  default     = "info"
}

# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------
variable "log_retention_days" {
  description = "CloudWatch Logs retention for both services."
  type        = number
  default     = 30
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (confirm the subscription mail). Empty: no subscription."
  type        = string
  default     = ""
}

variable "alarm_5xx_threshold" {
  description = "5xx responses per 5 minutes that raise the 5xx alarms."
  type        = number
  default     = 10
}

variable "alarm_redis_memory_percent" {
  description = "Redis memory use (% of maxmemory) that raises the Redis memory alarm. Redis runs noeviction: at 100 % every enqueue fails."
  type        = number
  default     = 80
}

variable "alarm_oldest_pending_s" {
  description = "Age in seconds of the oldest delivered-but-unacknowledged task that raises the stuck-task alarm (a task normally finishes in well under LLM_TIMEOUT_S x a few iterations)."
  type        = number
  default     = 600
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can be restored (0 deletes immediately)."
  type        = number
  default     = 7
}

variable "ecr_force_delete" {
  description = "Allow terraform destroy to delete ECR repositories that still hold images."
  type        = bool
  default     = false
}

variable "kb_s3_uri" {
  description = "s3://bucket/prefix holding your knowledge base (Markdown, text, HTML). Set: creates the <name>-ingest task definition, which copies it into the task and runs `haink-worker ingest` on it. Empty: no ingest task (use the documents baked into the worker image)."
  type        = string
  default     = ""
  validation {
    condition     = var.kb_s3_uri == "" || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", var.kb_s3_uri))
    error_message = "kb_s3_uri must be empty or s3://bucket[/prefix]."
  }
}

variable "kb_sync_image" {
  description = "Image with the AWS CLI that copies kb_s3_uri into the ingest task (pin a version you have reviewed)."
  type        = string
  default     = "public.ecr.aws/aws-cli/aws-cli:2.17.0"
}
