source /tmp/s-regr/lib.sh
provider ec2 describe-subnets --filters Name=vpc-id,Values=vpc-app --query 'Subnets[].[SubnetId,AvailabilityZone]' --output text
L=$(provider elbv2 create-load-balancer --name cfg --type network --scheme internal --subnets subnet-app --query 'LoadBalancers[0].LoadBalancerArn' --output text); echo "L=$L"
T=$(provider elbv2 create-target-group --name cfgtg --protocol TCP --port 80 --target-type ip --vpc-id vpc-app --query 'TargetGroups[0].TargetGroupArn' --output text); echo "T=$T"
provider elbv2 delete-load-balancer --load-balancer-arn $L && echo dl
provider elbv2 delete-target-group --target-group-arn $T && echo dt
