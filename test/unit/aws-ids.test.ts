import { describe, expect, it } from 'vitest';
import {
  accountIdFromAccessKey, accountRootArn, AWS_ID_PREFIXES, awsRegion, DEFAULT_AWS_ACCOUNT_ID, endpointServiceName, isAccountId,
  isAwsId, isAwsRegion, isElbName, listenerArn, loadBalancerArn, newAwsId, parseArn, parseElbArn, parsePrincipal,
  publicServiceName, targetGroupArn,
} from '../../src/api/aws/ids.js';

describe('AWS ids', () => {
  it('each prefix + 17 lower-case hex digits, random, valid for its own prefix only', () => {
    for (const prefix of AWS_ID_PREFIXES) {
      const ids = new Set(Array.from({ length: 200 }, () => newAwsId(prefix)));
      expect(ids.size).toBe(200);
      for (const id of ids) {
        expect(id).toMatch(new RegExp(`^${prefix}-[0-9a-f]{17}$`));
        expect(id).not.toMatch(/[_/]/);
        expect(isAwsId(prefix, id)).toBe(true);
        for (const other of AWS_ID_PREFIXES) if (other !== prefix) expect(isAwsId(other, id)).toBe(false);
      }
    }
  });

  it.each([
    ['vpc', 'vpc-1a2b3c4d', true],
    ['vpc', 'vpc-0123456789abcdef0', true],
    ['vpc', 'vpc-0123456789ABCDEF0', false],
    ['vpc', 'vpc-0123456789abcdef', false],
    ['vpc', 'vpc-app', false],
    ['vpce', 'vpce-svc-0123456789abcdef0', false],
    ['vpce-svc', 'vpce-svc-0123456789abcdef0', true],
    ['sg', ' sg-0123456789abcdef0', false],
    ['subnet', 'subnet-0123456789abcdef0\n', false],
  ] as const)('isAwsId(%s, %j) is %s', (prefix, id, valid) => {
    expect(isAwsId(prefix, id)).toBe(valid);
  });

  it('account ids: 12 digits', () => {
    expect(isAccountId(DEFAULT_AWS_ACCOUNT_ID)).toBe(true);
    expect(isAccountId('111111111111')).toBe(true);
    expect(isAccountId('12345678901')).toBe(false);
    expect(isAccountId('1234567890123')).toBe(false);
  });
});

describe('regions and service names', () => {
  it.each([
    ['us-east-1', 'us-east-1'], ['eu-central-2', 'eu-central-2'], ['ap-southeast-5', 'ap-southeast-5'], ['la-south-2', 'la-south-2'],
    ['sim-1', 'us-east-1'], ['', 'us-east-1'], ['US-EAST-1', 'us-east-1'],
    // other partitions' regions (arn:aws-cn, arn:aws-us-gov) and Huawei's cn-north-4
    ['cn-north-4', 'us-east-1'], ['cn-north-1', 'us-east-1'], ['us-gov-west-1', 'us-east-1'], ['us-isob-east-1', 'us-east-1'],
  ])('awsRegion(%j) = %s', (config, region) => {
    expect(awsRegion(config)).toBe(region);
  });

  it('names', () => {
    expect(isAwsRegion('sim-1')).toBe(false);
    expect(endpointServiceName('us-east-1', 'vpce-svc-0123456789abcdef0')).toBe('com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0');
    expect(publicServiceName('us-east-1', 's3')).toBe('com.amazonaws.us-east-1.s3');
  });
});

describe('ARNs', () => {
  it('load balancers, target groups and listeners read back', () => {
    const lb = loadBalancerArn('us-east-1', '111111111111', 'my-nlb');
    expect(lb).toMatch(/^arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer\/net\/my-nlb\/[0-9a-f]{16}$/);
    const lbId = lb.split('/').pop()!;
    expect(parseElbArn(lb)).toEqual({ kind: 'loadbalancer', region: 'us-east-1', account: '111111111111', type: 'net', name: 'my-nlb', id: lbId });
    const tg = targetGroupArn('us-east-1', '111111111111', 'tg-1', '0123456789abcdef');
    expect(tg).toBe('arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tg-1/0123456789abcdef');
    expect(parseElbArn(tg)).toEqual({ kind: 'targetgroup', region: 'us-east-1', account: '111111111111', name: 'tg-1', id: '0123456789abcdef' });
    const l = listenerArn('us-east-1', '111111111111', 'my-nlb', lbId, 'fedcba9876543210');
    expect(l).toBe(`arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/net/my-nlb/${lbId}/fedcba9876543210`);
    expect(parseElbArn(l)).toMatchObject({ kind: 'listener', loadBalancerName: 'my-nlb', loadBalancerId: lbId, id: 'fedcba9876543210' });
    expect(targetGroupArn('us-east-1', '1', 'x')).not.toBe(targetGroupArn('us-east-1', '1', 'x'));
  });

  it.each([
    'arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/my-nlb',
    'arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/xyz/my-nlb/0123456789abcdef',
    'arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/-bad/0123456789abcdef',
    'arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tg/0123456789ABCDEF',
    'arn:aws:elasticloadbalancing::111111111111:targetgroup/tg/0123456789abcdef',
    'arn:aws:elasticloadbalancing:us-east-1:1111:targetgroup/tg/0123456789abcdef',
    'arn:aws:ec2:us-east-1:111111111111:targetgroup/tg/0123456789abcdef',
    'arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/net/lb/0123456789abcdef',
    'not-an-arn', '', 'arn:aws:elasticloadbalancing',
  ])('parseElbArn refuses %j', (s) => {
    expect(parseElbArn(s)).toBeNull();
  });

  it('generic ARNs keep the colons of the resource', () => {
    expect(parseArn('arn:aws:sns:us-east-1:111111111111:topic:with:colons')).toEqual({ partition: 'aws', service: 'sns', region: 'us-east-1', account: '111111111111', resource: 'topic:with:colons' });
    expect(parseArn('arn:aws-cn:s3:::bucket')).toMatchObject({ partition: 'aws-cn', region: '', account: '' });
    expect(parseArn('arn:aws:s3:::')).toBeNull();
  });

  it('principals: *, account root, user and role; anything else is null', () => {
    expect(accountRootArn('111122223333')).toBe('arn:aws:iam::111122223333:root');
    expect(parsePrincipal('*')).toEqual({ type: 'All' });
    expect(parsePrincipal('arn:aws:iam::111122223333:root')).toEqual({ type: 'Account', account: '111122223333', arn: 'arn:aws:iam::111122223333:root' });
    expect(parsePrincipal('arn:aws:iam::111122223333:user/alice')).toMatchObject({ type: 'User', account: '111122223333' });
    expect(parsePrincipal('arn:aws:iam::111122223333:role/path/r')).toMatchObject({ type: 'Role' });
    for (const bad of ['', '**', '111122223333', 'arn:aws:iam:us-east-1:111122223333:root', 'arn:aws:iam::1111:root', 'arn:aws:sts::111122223333:root', 'arn:aws:iam::111122223333:group/g']) {
      expect(parsePrincipal(bad)).toBeNull();
    }
  });

  it('ELBv2 names', () => {
    expect(isElbName('a')).toBe(true);
    expect(isElbName('my-nlb-1')).toBe(true);
    expect(isElbName('x'.repeat(32))).toBe(true);
    for (const bad of ['', '-a', 'a-', 'x'.repeat(33), 'a_b', 'internal-lb', 'a b']) expect(isElbName(bad)).toBe(false);
  });
});

describe('access keys (LocalStack, aws-ec2-api.md §6.2)', () => {
  it('decodes LSIA/LKIA keys; a 12-digit key is an account id; AKIA/ASIA and anything else name none', () => {
    expect(accountIdFromAccessKey('LSIAQAAAAAAVNCBMPNSG')).toBe('000000000042');
    expect(accountIdFromAccessKey('LKIAQAAAAAAVNCBMPNSG')).toBe('000000000042');
    expect(accountIdFromAccessKey('111111111111')).toBe('111111111111');
    for (const none of ['AKIAIOSFODNN7EXAMPLE', 'ASIAQAAAAAAVNCBMPNSG', 'test', 'LSIA', 'LSIAqaaaaaavncbmpnsg', 'LSIA01234567890123', '']) {
      expect(accountIdFromAccessKey(none)).toBeNull();
    }
  });
});
