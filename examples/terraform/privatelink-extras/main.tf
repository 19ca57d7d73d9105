# The PrivateLink resources and data sources beyond examples/terraform/main.tf, on vpcep-sim:
# the provider accepts the consumer's endpoint itself (aws_vpc_endpoint_connection_accepter), is
# told of connections (aws_vpc_endpoint_connection_notification), asks for its private DNS name to
# be verified; the consumer's endpoints take a policy, a route table and a security group through
# their association resources, and security group rules as resources of their own; and the data
# sources read all of it back. `changed = true` changes things in place (tags, acceptance, events,
# a security group and a route table added, a policy, rules). See README "Terraform";
# test/integration/terraform-extras.test.ts applies this very file, then with changed = true.
#
# The provider's network load balancer (and its target group and listener) exist beforehand: the
# stack finds them with data sources (made with the aws CLI or another stack; the test makes them
# with the SDK, which spares the provider's 30-second NLB waiter).

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
variable "load_balancer_name" {
  description = "the provider's network load balancer (in zone <region>a) and its target group, of that name"
  type        = string
}
variable "notification_topic_arn" {
  description = "a topic of the config's aws.sns_topics"
  type        = string
}
variable "listener_port" { type = number }
variable "interface_service_name" {
  description = "an operator's public interface service, e.g. com.amazonaws.us-east-1.ec2"
  type        = string
}
variable "gateway_service_name" {
  description = "an operator's public gateway service, e.g. com.amazonaws.us-east-1.s3"
  type        = string
}
variable "changed" {
  description = "true: the in-place changes"
  type        = bool
  default     = false
}

provider "aws" {
  region                  = var.region
  access_key              = var.provider_access_key
  secret_key              = var.provider_secret_key
  skip_metadata_api_check = true
  skip_region_validation  = true
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

# ---- the provider: a service on its existing NLB; it accepts connections itself

data "aws_lb" "web" {
  name = var.load_balancer_name
}

data "aws_lb_target_group" "web" {
  name = var.load_balancer_name
}

resource "aws_vpc_endpoint_service" "web" {
  acceptance_required        = !var.changed
  network_load_balancer_arns = [data.aws_lb.web.arn]
  private_dns_name           = "extras.example.com"
  tags                       = var.changed ? { Name = "web", stage = "changed" } : { Name = "web" }
}

resource "aws_vpc_endpoint_service_allowed_principal" "consumer" {
  vpc_endpoint_service_id = aws_vpc_endpoint_service.web.id
  principal_arn           = "arn:aws:iam::${data.aws_caller_identity.consumer.account_id}:root"
}

resource "aws_vpc_endpoint_connection_notification" "web" {
  vpc_endpoint_service_id     = aws_vpc_endpoint_service.web.id
  connection_notification_arn = var.notification_topic_arn
  connection_events           = var.changed ? ["Accept", "Connect", "Reject"] : ["Accept", "Reject"]
}

# its TXT record is not published: the verification is asked for, its state stays failed
resource "aws_vpc_endpoint_service_private_dns_verification" "web" {
  service_id = aws_vpc_endpoint_service.web.id
}

resource "aws_vpc_endpoint_connection_accepter" "web" {
  vpc_endpoint_service_id = aws_vpc_endpoint_service.web.id
  vpc_endpoint_id         = aws_vpc_endpoint.web.id
}

# ---- the consumer's network

resource "aws_vpc" "consumer" {
  provider   = aws.consumer
  cidr_block = "10.0.0.0/16"
  tags       = var.changed ? { Name = "consumer", stage = "changed" } : { Name = "consumer" }
}

resource "aws_subnet" "a" {
  provider          = aws.consumer
  vpc_id            = aws_vpc.consumer.id
  cidr_block        = "10.0.1.0/24"
  availability_zone = "${var.region}a"
}

resource "aws_subnet" "b" {
  provider          = aws.consumer
  vpc_id            = aws_vpc.consumer.id
  cidr_block        = "10.0.2.0/24"
  availability_zone = "${var.region}b"
}

resource "aws_route_table" "one" {
  provider = aws.consumer
  vpc_id   = aws_vpc.consumer.id
}

resource "aws_route_table" "two" {
  count    = var.changed ? 1 : 0
  provider = aws.consumer
  vpc_id   = aws_vpc.consumer.id
}

# groups without inline rules; their rules are resources of their own
resource "aws_security_group" "one" {
  provider    = aws.consumer
  name        = "one"
  description = "clients of subnet a"
  vpc_id      = aws_vpc.consumer.id
}

resource "aws_security_group" "two" {
  provider    = aws.consumer
  name        = "two"
  description = "clients of subnet b"
  vpc_id      = aws_vpc.consumer.id
}

resource "aws_vpc_security_group_ingress_rule" "one" {
  provider          = aws.consumer
  security_group_id = aws_security_group.one.id
  ip_protocol       = "tcp"
  from_port         = var.listener_port
  to_port           = var.changed ? var.listener_port + 1 : var.listener_port
  cidr_ipv4         = aws_subnet.a.cidr_block
  description       = var.changed ? "subnet a, two ports" : "subnet a"
  # a rule's own tags (they were dropped: every plan showed them to add)
  tags = { Name = var.changed ? "subnet-a-two-ports" : "subnet-a" }
}

resource "aws_vpc_security_group_egress_rule" "one" {
  provider          = aws.consumer
  security_group_id = aws_security_group.one.id
  ip_protocol       = "-1"
  cidr_ipv4         = "10.0.0.0/8"
  tags              = { Name = "to the private ranges" }
}

resource "aws_security_group_rule" "two" {
  provider          = aws.consumer
  type              = "ingress"
  security_group_id = aws_security_group.two.id
  protocol          = "tcp"
  from_port         = var.listener_port
  to_port           = var.listener_port
  cidr_blocks       = [aws_subnet.b.cidr_block]
  description       = var.changed ? "subnet b, changed" : "subnet b"
}

# ---- the consumer's endpoints

# to the provider's service: pendingAcceptance until the provider's accepter accepts it
resource "aws_vpc_endpoint" "web" {
  provider            = aws.consumer
  vpc_id              = aws_vpc.consumer.id
  service_name        = aws_vpc_endpoint_service.web.service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [aws_subnet.a.id]
  security_group_ids  = var.changed ? [aws_security_group.one.id, aws_security_group.two.id] : [aws_security_group.one.id]
  private_dns_enabled = false
  tags                = var.changed ? { Name = "web", stage = "changed" } : { Name = "web" }
  depends_on          = [aws_vpc_endpoint_service_allowed_principal.consumer]
}

# to the operator's interface service: its security group through the association, instead of the default one
resource "aws_vpc_endpoint" "public" {
  provider            = aws.consumer
  vpc_id              = aws_vpc.consumer.id
  service_name        = var.interface_service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [aws_subnet.b.id]
  private_dns_enabled = false
}

resource "aws_vpc_endpoint_security_group_association" "public" {
  provider                    = aws.consumer
  vpc_endpoint_id             = aws_vpc_endpoint.public.id
  security_group_id           = aws_security_group.two.id
  replace_default_association = true
}

# a gateway endpoint whose policy and route tables are resources of their own
resource "aws_vpc_endpoint" "gateway" {
  provider          = aws.consumer
  vpc_id            = aws_vpc.consumer.id
  service_name      = var.gateway_service_name
  vpc_endpoint_type = "Gateway"
}

resource "aws_vpc_endpoint_policy" "gateway" {
  provider        = aws.consumer
  vpc_endpoint_id = aws_vpc_endpoint.gateway.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = "*"
      Action    = var.changed ? ["s3:GetObject", "s3:PutObject"] : ["s3:GetObject"]
      Resource  = "*"
    }]
  })
}

resource "aws_vpc_endpoint_route_table_association" "one" {
  provider        = aws.consumer
  vpc_endpoint_id = aws_vpc_endpoint.gateway.id
  route_table_id  = aws_route_table.one.id
}

resource "aws_vpc_endpoint_route_table_association" "two" {
  count           = var.changed ? 1 : 0
  provider        = aws.consumer
  vpc_endpoint_id = aws_vpc_endpoint.gateway.id
  route_table_id  = aws_route_table.two[0].id
}

# ---- the data sources, read back after the resources

data "aws_vpc_endpoint" "web" {
  provider   = aws.consumer
  id         = aws_vpc_endpoint.web.id
  depends_on = [aws_vpc_endpoint_connection_accepter.web]
}

data "aws_vpc_endpoint" "gateway" {
  provider     = aws.consumer
  vpc_id       = aws_vpc.consumer.id
  service_name = var.gateway_service_name
  depends_on   = [aws_vpc_endpoint_policy.gateway, aws_vpc_endpoint_route_table_association.one, aws_vpc_endpoint_route_table_association.two]
}

data "aws_vpc_endpoint_service" "web_by_name" {
  provider     = aws.consumer
  service_name = aws_vpc_endpoint_service.web.service_name
  depends_on   = [aws_vpc_endpoint_service_allowed_principal.consumer]
}

data "aws_vpc_endpoint_service" "web_by_filter" {
  filter {
    name   = "service-name"
    values = [aws_vpc_endpoint_service.web.service_name]
  }
}

data "aws_vpc_endpoint_service" "gateway" {
  provider     = aws.consumer
  service      = reverse(split(".", var.gateway_service_name))[0]
  service_type = "Gateway"
}

data "aws_prefix_list" "gateway" {
  provider = aws.consumer
  name     = var.gateway_service_name
}

data "aws_ec2_managed_prefix_list" "gateway" {
  provider = aws.consumer
  id       = aws_vpc_endpoint.gateway.prefix_list_id
}

data "aws_vpc" "consumer" {
  provider   = aws.consumer
  cidr_block = aws_vpc.consumer.cidr_block
  depends_on = [aws_vpc.consumer]
}

data "aws_subnet" "b" {
  provider          = aws.consumer
  vpc_id            = aws_vpc.consumer.id
  availability_zone = aws_subnet.b.availability_zone
}

data "aws_security_group" "default" {
  provider = aws.consumer
  vpc_id   = aws_vpc.consumer.id
  name     = "default"
}

data "aws_network_interface" "web" {
  provider = aws.consumer
  id       = one(data.aws_vpc_endpoint.web.network_interface_ids)
}

data "aws_network_interfaces" "consumer" {
  provider = aws.consumer
  filter {
    name   = "vpc-id"
    values = [aws_vpc.consumer.id]
  }
  depends_on = [aws_vpc_endpoint.web, aws_vpc_endpoint.public]
}

output "reads" {
  value = {
    service_id             = aws_vpc_endpoint_service.web.id
    web_endpoint_id        = aws_vpc_endpoint.web.id
    public_endpoint_id     = aws_vpc_endpoint.public.id
    gateway_endpoint_id    = aws_vpc_endpoint.gateway.id
    notification_id        = aws_vpc_endpoint_connection_notification.web.id
    ingress_rule_id        = aws_vpc_security_group_ingress_rule.one.security_group_rule_id
    web_state              = data.aws_vpc_endpoint.web.state
    web_ip                 = data.aws_network_interface.web.private_ip
    web_eni_type           = data.aws_network_interface.web.interface_type
    consumer_enis          = length(data.aws_network_interfaces.consumer.ids)
    gateway_by_filter      = data.aws_vpc_endpoint.gateway.id
    gateway_route_tables   = length(data.aws_vpc_endpoint.gateway.route_table_ids)
    gateway_cidrs          = data.aws_vpc_endpoint.gateway.cidr_blocks
    service_by_name        = data.aws_vpc_endpoint_service.web_by_name.service_id
    service_by_filter      = data.aws_vpc_endpoint_service.web_by_filter.service_id
    service_acceptance     = data.aws_vpc_endpoint_service.web_by_name.acceptance_required
    gateway_service_type   = data.aws_vpc_endpoint_service.gateway.service_type
    prefix_list_id         = data.aws_prefix_list.gateway.id
    prefix_list_cidrs      = data.aws_prefix_list.gateway.cidr_blocks
    managed_prefix_list    = data.aws_ec2_managed_prefix_list.gateway.name
    vpc_by_cidr            = data.aws_vpc.consumer.id
    subnet_b_by_zone       = data.aws_subnet.b.id
    default_security_group = data.aws_security_group.default.id
    load_balancer_dns_name = data.aws_lb.web.dns_name
    target_group_port      = data.aws_lb_target_group.web.port
  }
}
