// The EC2 reads' shared pieces (src/api/aws/aws-render.ts): AWS's state words, names and derived
// ids, Filter.N with wildcards and tags, and MaxResults/NextToken paging.
import { describe, expect, it } from 'vitest';
import { AwsRequestError } from '../../src/api/aws/actions.js';
import {
  applyFilters, awsServiceName, baseEndpointDnsName, derivedId, eachItem, endpointState, page, requireIds, serviceState,
} from '../../src/api/aws/aws-render.js';
import { ID_SHAPES, isAwsId } from '../../src/api/aws/ids.js';
import { QueryParams, QueryParseError } from '../../src/api/aws/query.js';
import { ENDPOINT_STATUSES, SERVICE_STATUSES, type EndpointService } from '../../src/model/types.js';

const q = (raw: string) => QueryParams.parse(raw, 'ec2');

/** the client's mistake fn makes: AwsRequestError (the dialect's) or QueryParseError (a parameter's form) */
function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof AwsRequestError || err instanceof QueryParseError) return err;
    throw err;
  }
  throw new Error('no refusal');
}

describe('states in AWS words (aws-ec2-api.md §1.5)', () => {
  it('endpoints lowerCamel, services Capitalized, every domain status mapped', () => {
    expect(ENDPOINT_STATUSES.map(endpointState)).toEqual(['pendingAcceptance', 'pending', 'available', 'rejected', 'failed', 'deleting']);
    expect(SERVICE_STATUSES.map(serviceState)).toEqual(['Pending', 'Available', 'Failed', 'Deleting']);
  });
});

describe('names and derived ids', () => {
  const svc = { id: 'vpce-svc-0123456789abcdef0', service_name: 'sim-1.web.vpce-svc-0123456789abcdef0' } as EndpointService;
  const pub = { id: 'f7b4…', service_name: 'sim-1.s3', public: { targets: [] } } as unknown as EndpointService;

  it('an account service is com.amazonaws.vpce.<region>.<id>, a public one com.amazonaws.<region>.<name>', () => {
    expect(awsServiceName(svc, 'us-east-1', 'sim-1')).toBe('com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0');
    expect(awsServiceName(pub, 'us-east-1', 'sim-1')).toBe('com.amazonaws.us-east-1.s3');
    expect(baseEndpointDnsName(svc, 'us-east-1', 'sim-1')).toBe('vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com');
    expect(baseEndpointDnsName(pub, 'us-east-1', 'sim-1')).toBe('s3.us-east-1.vpce.amazonaws.com');
  });

  it('a derived id is AWS-shaped, stable, and differs per owner and per kind', () => {
    const eni = derivedId('eni', 'vpce-0123456789abcdef0');
    expect(isAwsId('eni', eni)).toBe(true);
    expect(derivedId('eni', 'vpce-0123456789abcdef0')).toBe(eni);
    expect(derivedId('eni', 'vpce-0123456789abcdef1')).not.toBe(eni);
    expect(derivedId('sg', 'vpce-0123456789abcdef0').slice(3)).not.toBe(eni.slice(4));
    expect(eni).not.toMatch(/[_/]/);
  });
});

describe('Filter.N', () => {
  const items = [
    { id: 'a', state: 'available', tags: [{ key: 'Name', value: 'web-1' }] },
    { id: 'b', state: 'pendingAcceptance', tags: [{ key: 'env', value: 'prod' }] },
    { id: 'c', state: 'available', tags: [] },
  ];
  const table = { 'vpc-endpoint-id': (x: (typeof items)[number]) => x.id, 'vpc-endpoint-state': (x: (typeof items)[number]) => x.state };
  const run = (raw: string) => applyFilters(items, q(raw).filters(), table, (x) => x.tags).map((x) => x.id);

  it('values of one filter are alternatives, filters all apply', () => {
    expect(run('Filter.1.Name=vpc-endpoint-state&Filter.1.Value.1=available&Filter.1.Value.2=pendingAcceptance')).toEqual(['a', 'b', 'c']);
    expect(run('Filter.1.Name=vpc-endpoint-state&Filter.1.Value.1=available&Filter.2.Name=vpc-endpoint-id&Filter.2.Value.1=c')).toEqual(['c']);
  });

  it('* and ? are wildcards; other characters are literal', () => {
    expect(run('Filter.1.Name=tag:Name&Filter.1.Value.1=web-*')).toEqual(['a']);
    expect(run('Filter.1.Name=tag:Name&Filter.1.Value.1=web-?')).toEqual(['a']);
    expect(run('Filter.1.Name=tag:Name&Filter.1.Value.1=web.1')).toEqual([]);
  });

  it('* matches any run (none too), ? exactly one character; the rest is literal, regular-expression characters too', () => {
    const vals = [{ id: 'x', state: 'a.b(c)', tags: [] }, { id: 'y', state: 'abc', tags: [] }, { id: 'z', state: '', tags: [] }];
    const on = (v: string) => applyFilters(vals, q(`Filter.1.Name=vpc-endpoint-state&Filter.1.Value.1=${encodeURIComponent(v)}`).filters(), table, () => []).map((x) => x.id);
    expect(on('*')).toEqual(['x', 'y', 'z']);
    expect(on('a*c')).toEqual(['y']);
    expect(on('a**b*')).toEqual(['x', 'y']);
    expect(on('a?b(c)')).toEqual(['x']);
    expect(on('???')).toEqual(['y']);
    expect(on('?*')).toEqual(['x', 'y']);
    expect(on('*c)')).toEqual(['x']);
    expect(on('a.b(c)*?')).toEqual([]);
    expect(on('[abc]')).toEqual([]);
  });

  it('a backslash escapes the character after it (EC2\'s Filter: \\*amazon\\?\\\\ is the literal *amazon?\\)', () => {
    const vals = [{ id: 'lit', state: '*amazon?\\', tags: [] }, { id: 'other', state: 'xamazonx\\', tags: [] }, { id: 'star', state: 'a*b', tags: [] }, { id: 'ab', state: 'aXb', tags: [] }];
    const on = (v: string) => applyFilters(vals, q(`Filter.1.Name=vpc-endpoint-state&Filter.1.Value.1=${encodeURIComponent(v)}`).filters(), table, () => []).map((x) => x.id);
    expect(on('\\*amazon\\?\\\\')).toEqual(['lit']);
    expect(on('*amazon?\\\\')).toEqual(['lit', 'other']);
    expect(on('a\\*b')).toEqual(['star']);
    expect(on('a*b')).toEqual(['star', 'ab']);
    // a backslash at the end stands for itself
    expect(on('*amazon?\\')).toEqual(['lit', 'other']);
  });

  it('a value of many stars costs no more than the records it is tested on (no backtracking regular expression)', () => {
    const long = [{ id: 'l', state: 'b'.repeat(30), tags: [] }];
    const started = Date.now();
    for (const v of ['*'.repeat(9) + 'a', '*b'.repeat(8) + 'a', '*?'.repeat(20) + 'a', `${'*'.repeat(100_000)}a`]) {
      expect(applyFilters(long, q(`Filter.1.Name=vpc-endpoint-state&Filter.1.Value.1=${encodeURIComponent(v)}`).filters(), table, () => [])).toEqual([]);
    }
    expect(applyFilters(long, q(`Filter.1.Name=vpc-endpoint-state&Filter.1.Value.1=${'*b'.repeat(10)}*`).filters(), table, () => [])).toHaveLength(1);
    // the regular expression took about 2 s on the first value alone, 27 s on the four (this machine)
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('tag:<key> and tag-key', () => {
    expect(run('Filter.1.Name=tag-key&Filter.1.Value.1=env')).toEqual(['b']);
    expect(run('Filter.1.Name=tag:env&Filter.1.Value.1=dev')).toEqual([]);
  });

  it('an unknown filter is InvalidParameterValue naming it', () => {
    const e = refusal(() => run('Filter.1.Name=colour&Filter.1.Value.1=red'));
    expect(e.code).toBe('InvalidParameterValue');
    expect(e.message).toContain("The filter 'colour' is invalid");
  });
});

describe('MaxResults and NextToken', () => {
  const ids = Array.from({ length: 12 }, (_, i) => `vpce-${String(i).padStart(17, '0')}`).reverse();
  /** a listing's parameters: a token names its action */
  const q = (raw: string, action = 'DescribeVpcEndpoints') => QueryParams.parse(`Action=${action}${raw ? `&${raw}` : ''}`, 'ec2');

  it('pages cover every item once, in id order, and the last page has no token', () => {
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const out = page(ids, (x) => x, q(`MaxResults=5${token ? `&NextToken=${token}` : ''}`));
      seen.push(...out.items);
      token = out.nextToken ?? '';
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].sort());
  });

  it('an item deleted between pages skips nothing else', () => {
    const first = page(ids, (x) => x, q('MaxResults=5'));
    const rest = ids.filter((x) => x !== first.items[4]);
    expect(page(rest, (x) => x, q(`MaxResults=5&NextToken=${first.nextToken}`)).items[0]).toBe([...ids].sort()[5]);
  });

  it('no MaxResults: everything; above 1000: 1000; below the minimum or a foreign token: refused', () => {
    expect(page(ids, (x) => x, q('')).items).toHaveLength(12);
    const many = Array.from({ length: 1500 }, (_, i) => String(i).padStart(5, '0'));
    expect(page(many, (x) => x, q('MaxResults=5000')).items).toHaveLength(1000);
    expect(refusal(() => page(ids, (x) => x, q('MaxResults=4'))).code).toBe('InvalidParameterValue');
    expect(refusal(() => page(ids, (x) => x, q('NextToken=bm9wZQ'))).code).toBe('InvalidNextToken');
    // another action's token: not this listing's (it listed what sorted after its key)
    const other = page(ids, (x) => x, q('MaxResults=5', 'DescribeSubnets')).nextToken;
    expect(refusal(() => page(ids, (x) => x, q(`MaxResults=5&NextToken=${other}`))).code).toBe('InvalidNextToken');
  });
});

describe('ids asked for by Describe*', () => {
  const known = new Set(['vpce-0123456789abcdef0', '0b6c1a3e-1111-4222-8333-444455556666']);
  const check = (ids: string[]) => refusal(() => requireIds(ids, known, 'InvalidVpcEndpointId.NotFound', 'VpcEndpoint Id', ID_SHAPES.endpoint));

  it('an id that cannot be of its kind is Malformed, one of the right shape that is not there NotFound (was NotFound for both)', () => {
    expect(check(['vpce-xyz'])).toMatchObject({ code: 'InvalidVpcEndpointId.Malformed', message: "The VpcEndpoint Id 'vpce-xyz' is malformed" });
    expect(check(['vpce-0123456789abcdef1']).code).toBe('InvalidVpcEndpointId.NotFound');
    // an endpoint made through the Huawei API keeps its UUID: that shape is an endpoint id here
    expect(check(['0b6c1a3e-1111-4222-8333-444455556667']).code).toBe('InvalidVpcEndpointId.NotFound');
    expect(check(['vpce-0123456789abcdef1', 'vpce-xyz']).code).toBe('InvalidVpcEndpointId.Malformed');
    expect(() => requireIds([...known], known, 'X', 'x', ID_SHAPES.endpoint)).not.toThrow();
  });

  it("a config's free-form ids: only one without the kind's prefix is malformed", () => {
    expect(ID_SHAPES.vpc.wellFormed('vpc-app')).toBe(true);
    expect(ID_SHAPES.vpc.wellFormed('app')).toBe(false);
    expect(ID_SHAPES.securityGroup.wellFormed('sg-xyz')).toBe(false);
    expect(ID_SHAPES.securityGroup.wellFormed(derivedId('sg', 'vpc-app'))).toBe(true);
  });
});

describe('batch actions', () => {
  it('refused items go into unsuccessful, done ones are left out, others fail the request', async () => {
    const done: string[] = [];
    const out = await eachItem(['a', 'b', 'c', 'a'], 'Id.1', async (id) => {
      if (id === 'b') throw new Error('missing');
      if (id === 'c') throw new Error('already');
      done.push(id);
    }, (err) => ((err as Error).message === 'missing' ? { code: 'X.NotFound', message: 'no b' } : (err as Error).message === 'already' ? 'done' : null));
    expect(done).toEqual(['a']);
    expect(out.unsuccessful).toEqual([{ error: { code: 'X.NotFound', message: 'no b' }, resourceId: 'b' }]);
    await expect(eachItem(['z'], 'Id.1', async () => { throw new Error('boom'); }, () => null)).rejects.toThrow('boom');
    await expect(eachItem([], 'Id.1', async () => undefined, () => null)).rejects.toMatchObject({ code: 'MissingParameter' });
  });
});
