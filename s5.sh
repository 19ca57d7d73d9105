source /tmp/s-regr/env.sh; source /tmp/s-regr/vars.sh
for VAL in 222222222222 111111111111; do
P2="{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{\"aws:PrincipalAccount\":\"$VAL\"}}}]}"
consumer ec2 modify-vpc-endpoint --vpc-endpoint-id $GEP --policy-document "$P2" --output text
$V $C trace --vpc-id $CVPC --source 10.1.1.50 --destination 100.125.0.10 --port 80 | grep -i 'policy\|verdict\|host'
done
