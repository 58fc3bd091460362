# Optional managed Redis (create_elasticache = true). ElastiCache for Redis
# OSS gives streams, consumer groups and Lua, which the queue needs, but no
# Query Engine, so the workers run with VECTOR_BACKEND=local. For FT.SEARCH
# use Redis 8 / Redis Cloud and pass its URL in var.redis_url instead.
#
# ElastiCache does not offer AOF on Redis 7; durability comes from the
# replica (Multi-AZ automatic failover) and daily snapshots.

resource "random_password" "elasticache" {
  count = var.create_elasticache ? 1 : 0

  length  = 40
  special = false
}

resource "aws_elasticache_subnet_group" "redis" {
  count = var.create_elasticache ? 1 : 0

  name       = "${var.name}-redis"
  subnet_ids = var.private_subnet_ids
}

resource "aws_elasticache_parameter_group" "redis" {
  count = var.create_elasticache ? 1 : 0

  name   = "${var.name}-redis7"
  family = "redis7"

  # Never evict: an evicted stream, task hash or dedupe key loses work.
  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

resource "aws_elasticache_replication_group" "redis" {
  count = var.create_elasticache ? 1 : 0

  replication_group_id = "${var.name}-redis"
  description          = "Haink task queue, history, memory and knowledge base"
  engine               = "redis"
  engine_version       = var.elasticache_engine_version
  node_type            = var.elasticache_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.redis[0].name
  subnet_group_name    = aws_elasticache_subnet_group.redis[0].name
  security_group_ids   = [aws_security_group.redis[0].id]

  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true

  at_rest_encryption_enabled = true
  transit_encryption_enabled = true
  auth_token                 = random_password.elasticache[0].result

  snapshot_retention_limit = 7
  snapshot_window          = "03:00-04:00"
  maintenance_window       = "sun:04:30-sun:05:30"
  apply_immediately        = false
}
