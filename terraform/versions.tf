terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
    # Only used for the ElastiCache AUTH token when create_elasticache = true.
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Keep state remote and encrypted: it holds secret ARNs and, when Terraform
  # manages REDIS_URL (create_elasticache or redis_url), the Redis password.
  # Configure at init time, e.g.:
  #   terraform init -backend-config="bucket=my-tf-state" \
  #     -backend-config="key=haink/terraform.tfstate" \
  #     -backend-config="region=eu-west-1" -backend-config="encrypt=true"
  # backend "s3" {}
}
