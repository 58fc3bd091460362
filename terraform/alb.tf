resource "aws_lb" "api" {
  name               = "${var.name}-api"
  load_balancer_type = "application"
  internal           = false
  security_groups    = [aws_security_group.alb.id]
  subnets            = var.public_subnet_ids
  # Below haink-api's keep-alive idle timeout (API_KEEP_ALIVE_MS, 30 s, in
  # api/server.h): a target that closes an idle connection the ALB still
  # considers open makes the ALB answer 502, and Slack does not retry slash
  # commands or interactive payloads. tests/deploy/check_deploy.sh asserts
  # idle_timeout < API_KEEP_ALIVE_MS.
  idle_timeout               = 25
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
}

resource "aws_lb_target_group" "api" {
  name        = "${var.name}-api"
  port        = 8080
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id

  # ECS waits for this before it sends SIGTERM to a task being replaced, so
  # in-flight requests finish on the old task. Slack requests take
  # milliseconds; 20 s is plenty.
  deregistration_delay = 20

  # Liveness, not /readyz: a Redis outage would fail /readyz on every task at
  # once and ECS would replace healthy tasks in a loop. During such an outage
  # the API answers 503 and Slack retries.
  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

# Only the Slack endpoints (and the Dev UI when enable_dev_ui is set) reach the
# API from the internet. /healthz, /readyz and anything else answer a fixed
# 404 at the ALB; the target group health check talks to the tasks directly.
# /metrics is not on this port at all (API_METRICS_PORT, not exposed).
locals {
  public_path_patterns = concat(["/slack/*"], var.enable_dev_ui ? ["/ui", "/ui/*"] : [])
  # The listener that serves traffic: HTTPS when a certificate is set.
  serving_listener_arn = local.https_enabled ? aws_lb_listener.https[0].arn : aws_lb_listener.http.arn
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.api.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = local.https_enabled ? "redirect" : "fixed-response"

    dynamic "redirect" {
      for_each = local.https_enabled ? [1] : []
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }

    dynamic "fixed_response" {
      for_each = local.https_enabled ? [] : [1]
      content {
        content_type = "text/plain"
        message_body = "not found"
        status_code  = "404"
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  count = local.https_enabled ? 1 : 0

  load_balancer_arn = aws_lb.api.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "not found"
      status_code  = "404"
    }
  }
}

resource "aws_lb_listener_rule" "api_paths" {
  listener_arn = local.serving_listener_arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }

  condition {
    path_pattern {
      values = local.public_path_patterns
    }
  }
}
