# One secret per sensitive variable. Terraform creates the containers only;
# the values are put in by hand (README, "Secrets") so they never enter the
# Terraform state, except REDIS_URL when Terraform itself knows it.
resource "aws_secretsmanager_secret" "app" {
  for_each = local.secret_env

  name                    = "${var.name}/${each.key}"
  description             = "Haink ${each.key}, read by haink-${join(" and haink-", each.value)}"
  recovery_window_in_days = var.secret_recovery_window_days
}

locals {
  manage_redis_url = var.create_elasticache || nonsensitive(var.redis_url != "")

  redis_url_value = (
    var.create_elasticache
    ? "rediss://:${try(random_password.elasticache[0].result, "")}@${try(aws_elasticache_replication_group.redis[0].primary_endpoint_address, "")}:6379/0"
    : var.redis_url
  )
}

resource "aws_secretsmanager_secret_version" "redis_url" {
  count = local.manage_redis_url ? 1 : 0

  secret_id     = aws_secretsmanager_secret.app["REDIS_URL"].id
  secret_string = local.redis_url_value
}
