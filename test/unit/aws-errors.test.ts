// The AWS dialect's tables against the README: every EC2 code and status the domain's errors map
// to is in "The AWS API"'s error table and nothing else is; every action of the composed tables
// has a row in "Supported actions" and every row an action. And no client's mistake is a 5xx.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AwsRequestError } from '../../src/api/aws/actions.js';
import { awsErrorBody, awsErrorOf, EC2_ERRORS, ELBV2_ERRORS, STS_ERRORS } from '../../src/api/aws/errors.js';
import { QueryParseError } from '../../src/api/aws/query.js';
import { AWS_ACTIONS } from '../../src/api/aws/tables.js';
import { DomainError, ERROR_NAMES, type ErrorName } from '../../src/model/errors.js';
import { ROOT } from '../helpers.js';

const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const between = (marker: string) => readme.split(`<!-- ${marker}:start -->`)[1]!.split(`<!-- ${marker}:end -->`)[0]!;

/** the daemon's own faults and states: the only names that may answer 5xx */
const SERVER_SIDE: readonly ErrorName[] = ['SystemError', 'NotReady', 'StoreFull', 'StoreUnavailable', 'StoreConflict', 'ListenFailed'];

describe('the AWS error tables', () => {
  it('EC2_ERRORS is the README\'s table, code and status for code and status', () => {
    const documented = [...between('aws-errors').matchAll(/^\| ([A-Za-z.]+) \| (\d{3}) \|/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    const table = [...new Set(Object.values(EC2_ERRORS).map((e) => `${e.code} ${e.status}`))].sort();
    expect(documented).toEqual(table);
  });

  it('map every domain error name, with AWS-shaped codes, and never a 5xx for a client\'s mistake', () => {
    for (const [api, table] of Object.entries({ ec2: EC2_ERRORS, elbv2: ELBV2_ERRORS, sts: STS_ERRORS })) {
      for (const name of ERROR_NAMES) {
        const e = table[name];
        expect(e, `${api} ${name}`).toBeDefined();
        expect(e.code, `${api} ${name}`).toMatch(/^[A-Z][A-Za-z]+(\.[A-Z][A-Za-z]+)?$/);
        expect(e.status >= 400 && e.status < (SERVER_SIDE.includes(name) ? 600 : 500), `${api} ${name}: ${e.status}`).toBe(true);
      }
    }
  });

  it('carry at most 1,024 characters of a message that quotes a huge input (a 500 KB id does not come back in full)', () => {
    const id = `vpce-${'a'.repeat(500_000)}`;
    for (const api of ['ec2', 'elasticloadbalancing', 'sts'] as const) {
      const full = `The VpcEndpoint Id '${id}' does not exist`;
      const { body } = awsErrorBody(api, awsErrorOf(api, new DomainError('EndpointNotFound', full)), 'req-1');
      expect(body.length, api).toBeLessThan(1024 + 400);
      expect(body, api).toContain(`<Message>${full.slice(0, 984).replaceAll("'", '&apos;')}... (cut: ${full.length} characters)</Message>`);
    }
  });

  it('answer the domain\'s names by table and AWS\'s own refusals by their code', () => {
    expect(awsErrorOf('ec2', new DomainError('EndpointNotFound', "The VpcEndpoint Id 'vpce-x' does not exist")))
      .toEqual({ code: 'InvalidVpcEndpointId.NotFound', status: 400, message: "The VpcEndpoint Id 'vpce-x' does not exist" });
    expect(awsErrorOf('ec2', new DomainError('QuotaExceeded')).code).toBe('VpcEndpointLimitExceeded');
    expect(awsErrorOf('ec2', new DomainError('InvalidParameter')).code).toBe('InvalidParameterValue');
    expect(awsErrorOf('sts', new DomainError('InvalidParameter')).code).toBe('ValidationError');
    expect(awsErrorOf('elasticloadbalancing', new DomainError('AuthFailed'))).toMatchObject({ code: 'InvalidClientTokenId', status: 403 });
    expect(awsErrorOf('ec2', new AwsRequestError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412)))
      .toMatchObject({ code: 'DryRunOperation', status: 412 });
    expect(awsErrorOf('ec2', new QueryParseError('MissingParameter', 'The request must contain the parameter Action'))).toMatchObject({ code: 'MissingParameter', status: 400 });
    expect(awsErrorOf('elasticloadbalancing', new QueryParseError('InvalidParameterValue', 'bad'))).toMatchObject({ code: 'ValidationError', status: 400 });
    // ELBv2's models have no MissingParameter: a required parameter left out is a ValidationError
    expect(awsErrorOf('elasticloadbalancing', new QueryParseError('MissingParameter', 'The request must contain the parameter Name', 'Name'))).toMatchObject({ code: 'ValidationError', status: 400 });
  });

  it('render EC2\'s <Response><Errors> and the query protocol\'s <ErrorResponse> with the request id', () => {
    const ec2 = awsErrorBody('ec2', { code: 'InvalidAction', status: 400, message: 'no <such> action' }, 'rid-1');
    expect(ec2.contentType).toMatch(/^text\/xml/);
    expect(ec2.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>InvalidAction</Code>'
      + '<Message>no &lt;such&gt; action</Message></Error></Errors><RequestID>rid-1</RequestID></Response>');
    const sts = awsErrorBody('sts', { code: 'InternalError', status: 500, message: 'x' }, 'rid-2');
    expect(sts.body).toBe('<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
      + '<Error><Type>Receiver</Type><Code>InternalError</Code><Message>x</Message></Error><RequestId>rid-2</RequestId></ErrorResponse>');
  });
});

describe('the supported actions', () => {
  it('are the README\'s "Supported actions" table, row for action', () => {
    const API_NAMES = { ec2: 'EC2', elasticloadbalancing: 'ELBv2', sts: 'STS' } as const;
    const rows = [...between('aws-actions').matchAll(/^\| (EC2|ELBv2|STS) \| ([A-Za-z0-9]+) \| (.*) \|$/gm)];
    const documented = rows.map((m) => `${m[1]} ${m[2]}`).sort();
    const implemented = Object.entries(AWS_ACTIONS).flatMap(([api, table]) => Object.keys(table).map((a) => `${API_NAMES[api as keyof typeof API_NAMES]} ${a}`)).sort();
    expect(documented).toEqual(implemented);
    expect(new Set(documented).size, 'no action listed twice').toBe(documented.length);
    for (const m of rows) expect(m[3]!.trim().length, `${m[1]} ${m[2]} says its deviations (or "none")`).toBeGreaterThan(0);
  });
});
