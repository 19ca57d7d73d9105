# A provider's NLB-backed endpoint service and a consumer's endpoints to it, on vpcep-sim.
# The VPCs, subnets and route tables are the daemon config's (read through data sources); see
# README "Terraform". test/integration/terraform.test.ts applies this very file.

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.100" }
  }
}

variable "endpoint" {
  description = "vpcepd's URL, e.g. http://127.0.0.1:9480"
  type        = string
}
variable "region" {
  type    = string
  default = "us-east-1"
}
variable "provider_access_key" { type = string }
variable "provider_secret_key" {
  type      = string
  sensitive = true
}
variable "consumer_access_key" { type = string }
variable "consumer_secret_key" {
  type      = string
  sensitive = true
}
variable "provider_vpc_id" { type = string }
variable "provider_subnet_id" { type = string }
variable "consumer_vpc_id" { type = string }
variable "consumer_subnet_id" { type = string }
variable "backend_ip" {
  description = "the real backend behind the NLB (outside the VPC, hence availability_zone = all)"
  type        = string
  default     = "127.0.0.1"
}
variable "backend_port" { type = number }
variable "listener_port" { type = number }
variable "gateway_service_name" {
  description = "an operator's public gateway service, e.g. com.amazonaws.us-east-1.s3"
  type        = string
}

provider "aws" {
  region                     = var.region
  access_key                 = var.provider_access_key
  secret_key                 = var.provider_secret_key
  skip_metadata_api_check    = true
  skip_region_validation     = true
  skip_requesting_account_id = false
  endpoints {
    ec2   = var.endpoint
    elbv2 = var.endpoint
    sts   = var.endpoint
  }
}

provider "aws" {
  alias                   = "consumer"
  region                  = var.region
  access_key              = var.consumer_access_key
  secret_key              = var.consumer_secret_key
  skip_metadata_api_check = true
  skip_region_validation  = true
  endpoints {
    ec2   = var.endpoint
    elbv2 = var.endpoint
    sts   = var.endpoint
  }
}

data "aws_caller_identity" "consumer" {
  provider = aws.consumer
}

data "aws_vpc" "provider" {
  id = var.provider_vpc_id
}

data "aws_subnet" "provider" {
  id = var.provider_subnet_id
}

data "aws_vpc" "consumer" {
  provider = aws.consumer
  id       = var.consumer_vpc_id
}

data "aws_subnet" "consumer" {
  provider = aws.consumer
  id       = var.consumer_subnet_id
}

data "aws_route_table" "consumer_main" {
  provider = aws.consumer
  vpc_id   = data.aws_vpc.consumer.id
  filter {
    name   = "association.main"
    values = ["true"]
  }
}

# ---- the provider: NLB -> target group -> listener -> endpoint service

resource "aws_lb" "web" {
  name               = "web-nlb"
  internal           = true
  load_balancer_type = "network"
  subnets            = [data.aws_subnet.provider.id]
}

resource "aws_lb_target_group" "web" {
  name              = "web-tg"
  port              = var.backend_port
  protocol          = "TCP"
  target_type       = "ip"
  vpc_id            = data.aws_vpc.provider.id
  proxy_protocol_v2 = false
}

resource "aws_lb_target_group_attachment" "web" {
  target_group_arn  = aws_lb_target_group.web.arn
  target_id         = var.backend_ip
  port              = var.backend_port
  availability_zone = "all"
}

resource "aws_lb_listener" "web" {
  load_balancer_arn = aws_lb.web.arn
  port              = var.listener_port
  protocol          = "TCP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

resource "aws_vpc_endpoint_service" "web" {
  acceptance_required        = false
  network_load_balancer_arns = [aws_lb.web.arn]
  tags                       = { Name = "web" }
  depends_on                 = [aws_lb_listener.web]
}

resource "aws_vpc_endpoint_service_allowed_principal" "consumer" {
  vpc_endpoint_service_id = aws_vpc_endpoint_service.web.id
  principal_arn           = "arn:aws:iam::${data.aws_caller_identity.consumer.account_id}:root"
}

# ---- the consumer: an interface endpoint to the service, a gateway endpoint to the public service

resource "aws_vpc_endpoint" "web" {
  provider            = aws.consumer
  vpc_id              = data.aws_vpc.consumer.id
  service_name        = aws_vpc_endpoint_service.web.service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [data.aws_subnet.consumer.id]
  private_dns_enabled = false
  auto_accept         = true
  depends_on          = [aws_vpc_endpoint_service_allowed_principal.consumer]
}

resource "aws_vpc_endpoint" "gateway" {
  provider          = aws.consumer
  vpc_id            = data.aws_vpc.consumer.id
  service_name      = var.gateway_service_name
  vpc_endpoint_type = "Gateway"
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = "*", Action = "*", Resource = "*" }]
  })
}

resource "aws_vpc_endpoint_route_table_association" "gateway" {
  provider        = aws.consumer
  vpc_endpoint_id = aws_vpc_endpoint.gateway.id
  route_table_id  = data.aws_route_table.consumer_main.id
}

output "interface_endpoint_id" {
  value = aws_vpc_endpoint.web.id
}
output "interface_endpoint_ip" {
  value = one(aws_vpc_endpoint.web.subnet_configuration).ipv4
}
output "gateway_endpoint_id" {
  value = aws_vpc_endpoint.gateway.id
}
output "service_id" {
  value = aws_vpc_endpoint_service.web.id
}
output "service_name" {
  value = aws_vpc_endpoint_service.web.service_name
}
