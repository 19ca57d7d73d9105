# A provider's NLB-backed endpoint service and a consumer's endpoints to it, on vpcep-sim, each
# account on a network it builds itself (VPC, subnet; the consumer's route table and security
# group). See README "Terraform"; test/integration/terraform.test.ts applies this very file.

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

locals {
  zone = "${var.region}a"
}

# ---- the networks: each account's VPC and subnet; the consumer's route table (its gateway
# endpoint's) and the security group of its interface endpoint

resource "aws_vpc" "provider" {
  cidr_block = "192.168.0.0/16"
  tags       = { Name = "provider" }
}

resource "aws_subnet" "provider" {
  vpc_id            = aws_vpc.provider.id
  cidr_block        = "192.168.24.0/24"
  availability_zone = local.zone
}

resource "aws_vpc" "consumer" {
  provider   = aws.consumer
  cidr_block = "10.0.0.0/16"
  tags       = { Name = "consumer" }
}

resource "aws_subnet" "consumer" {
  provider          = aws.consumer
  vpc_id            = aws_vpc.consumer.id
  cidr_block        = "10.0.1.0/24"
  availability_zone = local.zone
}

resource "aws_route_table" "consumer" {
  provider = aws.consumer
  vpc_id   = aws_vpc.consumer.id
}

resource "aws_route_table_association" "consumer" {
  provider       = aws.consumer
  subnet_id      = aws_subnet.consumer.id
  route_table_id = aws_route_table.consumer.id
}

# enforced per connection: only clients of the consumer's subnet reach the listener port
resource "aws_security_group" "endpoint" {
  provider    = aws.consumer
  name        = "web-endpoint"
  description = "clients of the consumer subnet to the web service"
  vpc_id      = aws_vpc.consumer.id
  ingress {
    protocol    = "tcp"
    from_port   = var.listener_port
    to_port     = var.listener_port
    cidr_blocks = [aws_subnet.consumer.cidr_block]
  }
}

# ---- the provider: NLB -> target group -> listener -> endpoint service

resource "aws_lb" "web" {
  name               = "web-nlb"
  internal           = true
  load_balancer_type = "network"
  subnets            = [aws_subnet.provider.id]
}

resource "aws_lb_target_group" "web" {
  name              = "web-tg"
  port              = var.backend_port
  protocol          = "TCP"
  target_type       = "ip"
  vpc_id            = aws_vpc.provider.id
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
  # pendingVerification until its TXT record is in vpcep-sim's public zone (README "DNS")
  private_dns_name = "web.example.com"
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
  vpc_id              = aws_vpc.consumer.id
  service_name        = aws_vpc_endpoint_service.web.service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [aws_subnet.consumer.id]
  security_group_ids  = [aws_security_group.endpoint.id]
  private_dns_enabled = false
  auto_accept         = true
  depends_on          = [aws_vpc_endpoint_service_allowed_principal.consumer]
}

resource "aws_vpc_endpoint" "gateway" {
  provider          = aws.consumer
  vpc_id            = aws_vpc.consumer.id
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
  route_table_id  = aws_route_table.consumer.id
}

output "provider_vpc_id" {
  value = aws_vpc.provider.id
}
output "consumer_vpc_id" {
  value = aws_vpc.consumer.id
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
