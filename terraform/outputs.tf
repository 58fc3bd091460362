output "alb_dns_name" {
  description = "DNS name of the load balancer; point your hostname (CNAME/alias) at it."
  value       = aws_lb.api.dns_name
}

output "slack_request_urls" {
  description = "URLs to enter in the Slack app settings (replace the host with your certificate's hostname)."
  value = {
    events      = "${local.https_enabled ? "https" : "http"}://${aws_lb.api.dns_name}/slack/events"
    interactive = "${local.https_enabled ? "https" : "http"}://${aws_lb.api.dns_name}/slack/interactive"
    commands    = "${local.https_enabled ? "https" : "http"}://${aws_lb.api.dns_name}/slack/commands"
  }
}

output "ecr_repository_urls" {
  description = "Push haink-api and haink-worker images here."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "ecs_cluster_name" {
  value = aws_ecs_cluster.this.name
}

output "ecs_service_names" {
  value = {
    api    = aws_ecs_service.api.name
    worker = aws_ecs_service.worker.name
  }
}

output "secret_arns" {
  description = "Secrets Manager secrets to fill in, by container variable name."
  value       = { for k, s in aws_secretsmanager_secret.app : k => s.arn }
}

output "alarm_topic_arn" {
  value = aws_sns_topic.alarms.arn
}

output "log_groups" {
  value = {
    api    = aws_cloudwatch_log_group.api.name
    worker = aws_cloudwatch_log_group.worker.name
  }
}

output "elasticache_primary_endpoint" {
  description = "Primary endpoint of the ElastiCache replication group (null unless create_elasticache)."
  value       = try(aws_elasticache_replication_group.redis[0].primary_endpoint_address, null)
}

output "task_network" {
  description = "Subnets and security group for one-off worker tasks (aws ecs run-task, e.g. ingest)."
  value = {
    subnets          = var.private_subnet_ids
    security_group   = aws_security_group.worker.id
    assign_public_ip = var.assign_public_ip
  }
}

output "worker_task_definition_family" {
  description = "Task definition family of the workers, for one-off tasks (aws ecs run-task --task-definition, e.g. ingest)."
  value       = aws_ecs_task_definition.worker.family
}

output "ingest_task_definition_family" {
  description = "One-off task that copies kb_s3_uri and ingests it (null unless kb_s3_uri is set)."
  value       = try(aws_ecs_task_definition.ingest[0].family, null)
}
