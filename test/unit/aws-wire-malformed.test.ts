// Malformed input to each parser of the AWS wire layer: each is refused with the parser's own
// typed answer (QueryParseError, a SigV4 failure), never with anything else; the serializer
// escapes whatever text it is given.
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { parseQuery, QueryParams, QueryParseError, QUERY_LIMITS, type QueryProtocol } from '../../src/api/aws/query.js';
import { readCredentialScope, SigV4Verifier, type SignedRequest } from '../../src/api/aws/sigv4.js';
import { ec2Error, ec2Response, ELBV2_NAMESPACE, queryError, queryResponse } from '../../src/api/aws/xml.js';

function refusal(raw: string, protocol: QueryProtocol = 'ec2', limits = QUERY_LIMITS): QueryParseError {
  try {
    parseQuery(raw, protocol, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(QueryParseError);
    return err as QueryParseError;
  }
  throw new Error(`accepted: ${raw}`);
}

/** a deterministic generator, so that a failure repeats */
function random(seed: number): () => number {
  let s = seed;
  return () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

describe('parseQuery', () => {
  it('reads ec2 lists, structures and form encoding; query protocol lists drop `member`', () => {
    expect(parseQuery('Action=X&A.2=b&A.1=a&S.B.C=c+d%20e&E=&F', 'ec2')).toEqual({ Action: 'X', A: ['a', 'b'], S: { B: { C: 'c d e' } }, E: '', F: '' });
    expect(parseQuery('Subnets.member.1=s1&Subnets.member.2=s2&Attributes.member.1.Key=k&Attributes.member.1.Value=v', 'query'))
      .toEqual({ Subnets: ['s1', 's2'], Attributes: [{ Key: 'k', Value: 'v' }] });
    // in ec2, `member` is an ordinary name
    expect(parseQuery('X.member.1=a', 'ec2')).toEqual({ X: { member: ['a'] } });
    // gaps close up, in index order
    expect(parseQuery('L.7=c&L.3=b&L.1=a', 'ec2')).toEqual({ L: ['a', 'b', 'c'] });
    expect(parseQuery('', 'ec2')).toEqual({});
    expect(parseQuery('&&A=1&', 'ec2')).toEqual({ A: '1' });
  });

  it.each([
    ['a bad percent-escape in a value', 'A=%E0%A4%A'],
    ['a bad percent-escape in a name', 'A%ZZ=1'],
    ['an index first', '1=a'],
    ['index 0', 'A.0=a'],
    ['a leading zero', 'A.01=a'],
    ['a negative index', 'A.-1=a'],
    ['an index above the limit', 'A.1001=a'],
    ['an empty step', 'A..B=a'],
    ['a trailing dot', 'A.=a'],
    ['an empty name', '=a'],
    ['a name with a space', 'A B=1'],
    ['a name with a bracket', 'A[0]=1'],
    ['__proto__', '__proto__.polluted=1'],
    ['a name starting with a digit and letters', '1A=1'],
    ['the same value twice', 'A=1&A=2'],
    ['a value and a structure', 'A=1&A.B=2'],
    ['a structure and a value', 'A.B=2&A=1'],
    ['a list and a structure', 'A.1=x&A.B=y'],
    ['a structure and a list', 'A.B=y&A.1=x'],
    ['a value and a list', 'A=1&A.1=2'],
    ['the same list item twice', 'A.1=x&A.1=y'],
  ])('refuses %s with InvalidParameterValue', (_what, raw) => {
    const err = refusal(raw);
    expect(err).toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect(err.message.length).toBeGreaterThan(5);
  });

  it.each([
    ['member first', 'member.1=a'],
    ['member without an index', 'A.member=a'],
    ['member before a name', 'A.member.B=a'],
  ])('query protocol: refuses %s', (_what, raw) => {
    expect(refusal(raw, 'query').code).toBe('InvalidParameterValue');
  });

  it('query protocol: an item spelled with and without member is the same item, given twice', () => {
    expect(refusal('A.1=a&A.member.1=b', 'query').message).toMatch(/twice/);
  });

  it('enforces the limits: parameters, depth, name length', () => {
    const limits = { ...QUERY_LIMITS, maxParams: 10, maxDepth: 3, maxNameLength: 20 };
    expect(refusal(Array.from({ length: 11 }, (_, i) => `P${i}=1`).join('&'), 'ec2', limits).message).toMatch(/more than 10 parameters/);
    expect(parseQuery(Array.from({ length: 10 }, (_, i) => `P${i}=1`).join('&'), 'ec2', limits)).toHaveProperty('P9', '1');
    expect(refusal('A.B.C.D=1', 'ec2', limits).message).toMatch(/deeper than 3/);
    expect(refusal(`${'A'.repeat(21)}=1`, 'ec2', limits).message).toMatch(/longer than 20/);
    // the default parameter limit is checked before any splitting
    expect(refusal('&'.repeat(QUERY_LIMITS.maxParams + 1)).message).toMatch(/more than/);
    expect(parseQuery(`A.${QUERY_LIMITS.maxListIndex}=x`, 'ec2')).toEqual({ A: ['x'] });
    // a long name is refused before a message quotes it
    const long = refusal(`${'A'.repeat(100_000)}=%ZZ`);
    expect(long.message.length + (long.parameter ?? '').length).toBeLessThan(200);
  });

  it('builds null-prototype structures: no name reaches Object.prototype', () => {
    const r = parseQuery('constructor.prototype.polluted=1&toString=x&hasOwnProperty.1=y', 'ec2');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(r)).toBeNull();
    expect(r.toString).toBe('x');
  });

  it('drops the X-Amz-* parameters of a presigned request', () => {
    expect(parseQuery('Action=A&X-Amz-Signature=abc&X-Amz-Date=1', 'query')).toEqual({ Action: 'A' });
  });

  it('throws nothing but QueryParseError on random input', () => {
    const next = random(12);
    const alphabet = 'Aa1.=&%+-_ member0.9ZzÿX-Amz-\u0000';
    for (let n = 0; n < 5000; n++) {
      let s = '';
      for (let len = Math.floor(next() * 40); len > 0; len--) s += alphabet[Math.floor(next() * alphabet.length)];
      for (const protocol of ['ec2', 'query'] as const) {
        try {
          const p = QueryParams.parse(s, protocol);
          p.filters();
          p.tagSpecifications();
          p.string('A');
          p.stringList('A');
        } catch (err) {
          if (!(err instanceof QueryParseError)) throw new Error(`${JSON.stringify(s)}: ${String(err)}`);
        }
      }
    }
  });
});

describe('QueryParams typed reads', () => {
  const p = QueryParams.parse('Action=Go&N=12&Neg=-3&Big=99999999999999999&Bad=1e3&T=TRUE&F=false&B=yes&L.1=a&S.X=1&Filter.1.Value.1=v&Tag.1.Value=v&E=', 'ec2');

  it('reads strings, ints, bools, lists', () => {
    expect(p.action).toBe('Go');
    expect(p.int('N', { min: 1, max: 100 })).toBe(12);
    expect(p.int('Neg')).toBe(-3);
    expect(p.int('Missing')).toBeUndefined();
    expect(p.bool('T')).toBe(true);
    expect(p.bool('F')).toBe(false);
    expect(p.stringList('L')).toEqual(['a']);
    expect(p.string('S.X')).toBe('1');
    expect(p.struct('S')?.string('X')).toBe('1');
    expect(p.has('S.X')).toBe(true);
    expect(p.has('S.Y')).toBe(false);
    expect(p.string('L.X')).toBeUndefined();
  });

  it.each([
    ['an int out of range', () => p.int('N', { max: 10 }), 'InvalidParameterValue', 'N'],
    ['an int beyond the safe range', () => p.int('Big'), 'InvalidParameterValue', 'Big'],
    ['an int in exponent notation', () => p.int('Bad'), 'InvalidParameterValue', 'Bad'],
    ['a bool that is neither', () => p.bool('B'), 'InvalidParameterValue', 'B'],
    ['a list read as a value', () => p.string('L'), 'InvalidParameterValue', 'L'],
    ['a value read as a list', () => p.stringList('N'), 'InvalidParameterValue', 'N'],
    ['a structure read as a list', () => p.stringList('S'), 'InvalidParameterValue', 'S'],
    ['a list of values read as structures', () => p.structList('L'), 'InvalidParameterValue', 'L.1'],
    ['a value read as a structure', () => p.struct('N'), 'InvalidParameterValue', 'N'],
    ['a missing required string', () => p.requiredString('VpcId'), 'MissingParameter', 'VpcId'],
    ['an empty required string', () => p.requiredString('E'), 'MissingParameter', 'E'],
    ['a filter without a name', () => p.filters(), 'MissingParameter', 'Filter.1.Name'],
    ['a tag without a key', () => p.tags('Tag'), 'MissingParameter', 'Tag.1.Key'],
  ])('refuses %s, naming the parameter as the client spelled it', (_what, read, code, parameter) => {
    expect(read).toThrow(QueryParseError);
    try {
      read();
    } catch (err) {
      expect(err).toMatchObject({ code, parameter });
    }
  });

  it('names query-protocol list items with member', () => {
    const q = QueryParams.parse('Targets.member.1.Port=80', 'query');
    expect(() => q.structList('Targets')[0]!.requiredString('Id')).toThrow(expect.objectContaining({ code: 'MissingParameter', parameter: 'Targets.member.1.Id' }));
    expect(() => QueryParams.parse('Action=', 'query').action).toThrow(expect.objectContaining({ code: 'MissingParameter', parameter: 'Action' }));
  });
});

describe('SigV4 malformed signatures', () => {
  const verifier = new SigV4Verifier({ secretFor: () => 'secret', now: () => Date.UTC(2026, 11, 4, 12, 0, 0) });
  const base: SignedRequest = { method: 'POST', path: '/', query: '', headers: { host: 'h', 'x-amz-date': '20261204T120000Z' }, body: 'Action=X' };
  const withAuth = (authorization: string, extra: Record<string, string> = {}): SignedRequest => ({ ...base, headers: { ...base.headers, authorization, ...extra } });
  const sig = 'a'.repeat(64);
  const good = `AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=${sig}`;

  it('a well-formed header with a wrong signature gets as far as SignatureDoesNotMatch', () => {
    expect(verifier.verify(withAuth(good))).toMatchObject({ ok: false, reason: 'signatureMismatch' });
    expect(verifier.verify(withAuth(good.replace(/, /g, ',')))).toMatchObject({ ok: false, reason: 'signatureMismatch' });
  });

  it.each([
    ['another algorithm', good.replace('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256'), /AWS4-HMAC-SHA256/],
    ['SigV2', 'AWS AKID:c2lnbmF0dXJl', /AWS4-HMAC-SHA256/],
    ['the algorithm alone', 'AWS4-HMAC-SHA256', /not name=value|requires/],
    ['an empty header', '', /AWS4-HMAC-SHA256/],
    ['no Signature', good.replace(`, Signature=${sig}`, ''), /requires Credential, SignedHeaders and Signature/],
    ['no SignedHeaders', good.replace(' SignedHeaders=host;x-amz-date,', ''), /requires/],
    ['a field without =', good.replace('SignedHeaders=', 'SignedHeaders'), /not name=value/],
    ['a repeated field', `${good}, Signature=${sig}`, /repeats Signature/],
    ['a short credential', good.replace('AKID/20261204/us-east-1/ec2/aws4_request', 'AKID/20261204/us-east-1/ec2'), /Credential must have the form/],
    ['an empty access key', good.replace('AKID/', '/'), /empty access key/],
    ['a bad scope date', good.replace('/20261204/', '/2026-12-04/'), /yyyymmdd/],
    ['a wrong terminal', good.replace('aws4_request', 'aws5_request'), /aws4_request/],
    ['an empty region', good.replace('/us-east-1/', '//'), /empty region/],
    ['unsorted signed headers', good.replace('host;x-amz-date', 'x-amz-date;host'), /sorted/],
    ['upper-case signed headers', good.replace('host;x-amz-date', 'Host;x-amz-date'), /invalid header name/],
    ['signed headers without host', good.replace('host;x-amz-date', 'x-amz-date'), /must include 'host'/],
    ['a short signature', good.replace(sig, 'abc'), /64 lower-case hex/],
    ['an upper-case signature', good.replace(sig, 'A'.repeat(64)), /64 lower-case hex/],
  ])('refuses %s as IncompleteSignature', (_what, authorization, message) => {
    for (const r of [verifier.verify(withAuth(authorization)), readCredentialScope(withAuth(authorization))]) {
      expect(r).toMatchObject({ ok: false, reason: 'incomplete', code: 'IncompleteSignature', status: 400 });
      expect(r.ok === false && r.message).toMatch(message);
    }
  });

  it.each([
    ['no X-Amz-Date', { 'x-amz-date': undefined }, 'incomplete', /no X-Amz-Date/],
    ['an X-Amz-Date that is not a date', { 'x-amz-date': '20261340T250000Z' }, 'incomplete', /yyyymmddThhmmssZ/],
    ['an X-Amz-Date on a day the month lacks', { 'x-amz-date': '20260231T120000Z' }, 'incomplete', /yyyymmddThhmmssZ/],
    ['an X-Amz-Date at hour 24', { 'x-amz-date': '20261204T240000Z' }, 'incomplete', /yyyymmddThhmmssZ/],
    ['an X-Amz-Date at second 60', { 'x-amz-date': '20261204T235960Z' }, 'incomplete', /yyyymmddThhmmssZ/],
    ['an X-Amz-Date in another format', { 'x-amz-date': 'Fri, 04 Dec 2026 12:00:00 GMT' }, 'incomplete', /yyyymmddThhmmssZ/],
    ['an X-Amz-Date of another day than the scope', { 'x-amz-date': '20261205T000000Z' }, 'signatureMismatch', /does not match/],
  ])('refuses %s', (_what, headers, reason, message) => {
    const r = verifier.verify({ ...base, headers: { ...base.headers, authorization: good, ...headers } });
    expect(r).toMatchObject({ ok: false, reason });
    expect(r.ok === false && r.message).toMatch(message);
  });

  it.each([
    ['no signature at all', '', 'missing'],
    ['an X-Amz-Algorithm of another kind', 'X-Amz-Algorithm=AWS4-HMAC-SHA1', 'incomplete'],
    ['a presigned request without its credential', 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261204T120000Z', 'incomplete'],
    ['a repeated X-Amz- parameter', 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Algorithm=AWS4-HMAC-SHA256', 'incomplete'],
    ['a bad percent-escape', 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X=%ZZ', 'incomplete'],
    ['an X-Amz-Expires beyond 7 days', `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261204%2Fus-east-1%2Fec2%2Faws4_request&X-Amz-Date=20261204T120000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=${sig}&X-Amz-Expires=604801`, 'incomplete'],
    ['an X-Amz-Expires that is not a number', `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261204%2Fus-east-1%2Fec2%2Faws4_request&X-Amz-Date=20261204T120000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=${sig}&X-Amz-Expires=1e3`, 'incomplete'],
  ])('query string: refuses %s', (_what, query, reason) => {
    const req = { ...base, method: 'GET', query, body: '' };
    expect(verifier.verify(req)).toMatchObject({ ok: false, reason });
    expect(readCredentialScope(req)).toMatchObject({ ok: false, reason });
  });

  it('a well-formed presigned query with a wrong signature gets as far as SignatureDoesNotMatch', () => {
    const query = `Action=A&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261204%2Fus-east-1%2Fec2%2Faws4_request&X-Amz-Date=20261204T120000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=${sig}&X-Amz-Expires=60`;
    expect(verifier.verify({ ...base, method: 'GET', query, body: '' })).toMatchObject({ ok: false, reason: 'signatureMismatch' });
  });

  it('never throws on random Authorization headers and query strings', () => {
    const next = random(99);
    const parts = ['AWS4-HMAC-SHA256', ' ', ',', ', ', '=', '/', ';', 'Credential', 'SignedHeaders', 'Signature', 'AKID', '20261204', 'us-east-1', 'ec2', 'aws4_request', 'host', 'x-amz-date', sig, '%', '&', 'X-Amz-Algorithm', 'X-Amz-Expires'];
    for (let n = 0; n < 5000; n++) {
      let s = '';
      for (let len = Math.floor(next() * 16); len > 0; len--) s += parts[Math.floor(next() * parts.length)];
      for (const req of [withAuth(s), { ...base, query: s }]) {
        const r = verifier.verify(req);
        expect(r.ok).toBe(false);
        expect(readCredentialScope(req)).toBeTypeOf('object');
      }
    }
  });
});

describe('XML serializer', () => {
  const parser = new XMLParser({ ignoreAttributes: false, parseTagValue: false, processEntities: true });

  it('escapes markup in text and replaces what XML 1.0 cannot carry; an astral character stays', () => {
    const evil = `</requestId><x a="1">&amp;'"\u0000\u0008\u001f\ud800 😀`;
    const xml = ec2Response('DescribeTags', evil, { tagSet: [{ key: evil, value: 'v' }] });
    expect(xml).not.toContain('<x ');
    expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    const doc = parser.parse(xml);
    expect(doc.DescribeTagsResponse.requestId).toBe(`</requestId><x a="1">&amp;'"\ufffd\ufffd\ufffd\ufffd 😀`);
    expect(doc.DescribeTagsResponse.tagSet.item.key).toBe(doc.DescribeTagsResponse.requestId);
  });

  it('writes the exact envelopes of §1.2-1.4', () => {
    expect(ec2Response('DeleteTags', 'r1', { return: true })).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><DeleteTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><return>true</return></DeleteTagsResponse>');
    expect(ec2Response('RejectVpcEndpointConnections', 'r2', { unsuccessful: [] })).toContain('<requestId>r2</requestId><unsuccessful/></RejectVpcEndpointConnectionsResponse>');
    expect(ec2Error({ code: 'InvalidVpcEndpointId.NotFound', message: "The VpcEndpoint Id 'vpce-x' does not exist" }, 'r3')).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>InvalidVpcEndpointId.NotFound</Code><Message>The VpcEndpoint Id &apos;vpce-x&apos; does not exist</Message></Error></Errors><RequestID>r3</RequestID></Response>');
    expect(queryResponse('DeregisterTargets', ELBV2_NAMESPACE, 'r4')).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><DeregisterTargetsResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DeregisterTargetsResult/><ResponseMetadata><RequestId>r4</RequestId></ResponseMetadata></DeregisterTargetsResponse>');
    expect(queryResponse('DescribeLoadBalancers', ELBV2_NAMESPACE, 'r5', { LoadBalancers: [{ AvailabilityZones: [{ ZoneName: 'a' }, { ZoneName: 'b' }] }] })).toContain(
      '<LoadBalancers><member><AvailabilityZones><member><ZoneName>a</ZoneName></member><member><ZoneName>b</ZoneName></member></AvailabilityZones></member></LoadBalancers>');
    expect(queryError(ELBV2_NAMESPACE, { code: 'LoadBalancerNotFound', message: 'x < y' }, 'r6')).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>LoadBalancerNotFound</Code><Message>x &lt; y</Message></Error><RequestId>r6</RequestId></ErrorResponse>');
  });

  it('values: numbers, bigints, dates, booleans; undefined and null left out; several errors in one body', () => {
    const xml = ec2Response('X', 'r', { n: 5, b: 2n ** 70n, d: new Date(0), t: false, u: undefined, z: null, list: [null, 'a', undefined] });
    expect(xml).toContain('<n>5</n><b>1180591620717411303424</b><d>1970-01-01T00:00:00.000Z</d><t>false</t><list><item>a</item></list></XResponse>');
    expect(ec2Error([{ code: 'A', message: 'a' }, { code: 'B', message: 'b' }], 'r')).toContain('<Error><Code>A</Code><Message>a</Message></Error><Error><Code>B</Code>');
  });

  it.each([
    ['an element name with markup', () => ec2Response('X', 'r', { 'a><b': 'x' })],
    ['an attribute-like name', () => ec2Response('X', 'r', { '@_xmlns': 'x' })],
    ['a text-node name', () => ec2Response('X', 'r', { '#text': 'x' })],
    ['a member named like the list items', () => ec2Response('X', 'r', { item: 'x' })],
    ['a nested bad name', () => queryResponse('X', ELBV2_NAMESPACE, 'r', { A: [{ 'b c': 1 }] })],
    ['a bad action name', () => ec2Response('X><Y', 'r', {})],
    ['a number that is not finite', () => ec2Response('X', 'r', { n: Number.NaN })],
  ])('refuses %s: a programming error, not output', (_what, build) => {
    expect(build).toThrow(TypeError);
  });
});
