# The network a platform engineer's ordinary PrivateLink stack builds around its endpoints, on
# vpcep-sim: the region and its zones read with data sources, a VPC with a subnet per zone and a
# public subnet, an internet gateway and a public route table with a default route to it, the VPC's
# main route table and default security group adopted (aws_default_route_table,
# aws_default_security_group: only its members and all egress), network ACLs (the private subnets'
# with inline rules, the public subnet's with a standalone rule and association, the default one
# adopted with aws_default_network_acl), the subnets found again with
# data "aws_subnets", an interface endpoint placed in its subnet by aws_vpc_endpoint_subnet_association
# and a gateway endpoint routed in both tables. See README "Terraform";
# test/integration/terraform-extras.test.ts applies this very file, plans it again and destroys it.
#
# One account (the consumer's keys); the daemon's config needs the public services s3 (gateway)
# and ec2 (interface), as privatelink-extras does.

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
variable "access_key" { type = string }
variable "secret_key" {
  type      = string
  sensitive = true
}

provider "aws" {
  region                  = var.region
  access_key              = var.access_key
  secret_key              = var.secret_key
  skip_metadata_api_check = true
  skip_region_validation  = true
  endpoints {
    ec2   = var.endpoint
    elbv2 = var.endpoint
    sts   = var.endpoint
  }
}

data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  zones = slice(data.aws_availability_zones.available.names, 0, 2)
}

resource "aws_vpc" "main" {
  cidr_block           = "10.20.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "breadth" }
}

resource "aws_subnet" "private" {
  count             = length(local.zones)
  vpc_id            = aws_vpc.main.id
  cidr_block        = cidrsubnet(aws_vpc.main.cidr_block, 8, count.index + 1)
  availability_zone = local.zones[count.index]
  tags              = { Name = "private-${local.zones[count.index]}" }
}

resource "aws_subnet" "public" {
  vpc_id                  = aws_vpc.main.id
  cidr_block              = "10.20.100.0/24"
  availability_zone       = local.zones[0]
  map_public_ip_on_launch = true
  tags                    = { Name = "public" }
}

# every subnet of the VPC, as a module consuming it would find them
data "aws_subnets" "in_vpc" {
  filter {
    name   = "vpc-id"
    values = [aws_vpc.main.id]
  }
  depends_on = [aws_subnet.private, aws_subnet.public]
}

resource "aws_internet_gateway" "igw" {
  vpc_id = aws_vpc.main.id
  tags   = { Name = "breadth" }
}

data "aws_internet_gateway" "by_vpc" {
  filter {
    name   = "attachment.vpc-id"
    values = [aws_vpc.main.id]
  }
  depends_on = [aws_internet_gateway.igw]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id
  tags   = { Name = "public" }
}

resource "aws_route" "internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.igw.id
}

resource "aws_route_table_association" "public" {
  subnet_id      = aws_subnet.public.id
  route_table_id = aws_route_table.public.id
}

# the main table: the private subnets route by it
resource "aws_default_route_table" "main" {
  default_route_table_id = aws_vpc.main.default_route_table_id
  tags                   = { Name = "private (main)" }
}

# the default group as AWS makes it, declared: all traffic from its members, all egress
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id
  ingress {
    protocol  = "-1"
    self      = true
    from_port = 0
    to_port   = 0
  }
  egress {
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
    from_port   = 0
    to_port     = 0
  }
  tags = { Name = "default" }
}

# the private subnets' ACL, rules inline: HTTPS in from the VPC, replies back to it
resource "aws_network_acl" "private" {
  vpc_id     = aws_vpc.main.id
  subnet_ids = aws_subnet.private[*].id
  ingress {
    protocol   = "tcp"
    rule_no    = 100
    action     = "allow"
    cidr_block = aws_vpc.main.cidr_block
    from_port  = 443
    to_port    = 443
  }
  egress {
    protocol   = "tcp"
    rule_no    = 100
    action     = "allow"
    cidr_block = aws_vpc.main.cidr_block
    from_port  = 1024
    to_port    = 65535
  }
  tags = { Name = "private" }
}

# the public subnet's ACL, its rules standalone (a Network ACL with inline rules cannot take them)
resource "aws_network_acl" "public" {
  vpc_id = aws_vpc.main.id
  tags   = { Name = "public" }
}

resource "aws_network_acl_rule" "public_https_in" {
  network_acl_id = aws_network_acl.public.id
  rule_number    = 100
  egress         = false
  protocol       = "tcp"
  rule_action    = "allow"
  cidr_block     = "0.0.0.0/0"
  from_port      = 443
  to_port        = 443
}

resource "aws_network_acl_association" "public" {
  network_acl_id = aws_network_acl.public.id
  subnet_id      = aws_subnet.public.id
}

# the VPC's default ACL as AWS makes it, declared; the subnets it holds are whatever no other ACL holds
resource "aws_default_network_acl" "default" {
  default_network_acl_id = aws_vpc.main.default_network_acl_id
  ingress {
    protocol   = -1
    rule_no    = 100
    action     = "allow"
    cidr_block = "0.0.0.0/0"
    from_port  = 0
    to_port    = 0
  }
  egress {
    protocol   = -1
    rule_no    = 100
    action     = "allow"
    cidr_block = "0.0.0.0/0"
    from_port  = 0
    to_port    = 0
  }
  tags = { Name = "default" }
  lifecycle {
    ignore_changes = [subnet_ids]
  }
}

resource "aws_security_group" "endpoints" {
  name        = "endpoints"
  description = "HTTPS from the VPC to the interface endpoints"
  vpc_id      = aws_vpc.main.id
  ingress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [aws_vpc.main.cidr_block]
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# no subnet_ids: the association places it (the provider waits a minute before its ModifyVpcEndpoint)
resource "aws_vpc_endpoint" "ec2" {
  vpc_id              = aws_vpc.main.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.ec2"
  vpc_endpoint_type   = "Interface"
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = false
}

resource "aws_vpc_endpoint_subnet_association" "ec2" {
  vpc_endpoint_id = aws_vpc_endpoint.ec2.id
  subnet_id       = aws_subnet.private[0].id
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.main.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_default_route_table.main.id, aws_route_table.public.id]
}

output "reads" {
  value = {
    region          = data.aws_region.current.name
    zones           = local.zones
    vpc_id          = aws_vpc.main.id
    subnets         = sort(data.aws_subnets.in_vpc.ids)
    private_subnets = sort(aws_subnet.private[*].id)
    public_subnet   = aws_subnet.public.id
    igw             = aws_internet_gateway.igw.id
    igw_by_vpc      = data.aws_internet_gateway.by_vpc.id
    main_table      = aws_default_route_table.main.id
    public_table    = aws_route_table.public.id
    default_group   = aws_default_security_group.default.id
    private_acl     = aws_network_acl.private.id
    public_acl      = aws_network_acl.public.id
    default_acl     = aws_default_network_acl.default.id
    ec2_endpoint    = aws_vpc_endpoint.ec2.id
    ec2_subnet      = aws_vpc_endpoint_subnet_association.ec2.subnet_id
    s3_endpoint     = aws_vpc_endpoint.s3.id
  }
}
