#!/usr/bin/env node
// Micro benchmark of the AWS dialect's per-request work (benchmark.js): SigV4 verification of a
// request the AWS SDK signed (issue 12: under 50 µs a request), reading its credential scope
// (lenient mode), parsing its form body; beside them, in the same run, the anchors: a bare
// SHA-256 and HMAC-SHA256 of the same body and @smithy/signature-v4 signing the same request (the
// SDK's own signer). `npm run build` first; `node bench/sigv4.mjs [--smoke]`. Prints ops/s and
// µs/op, writes the figures as JSON under bench/results/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import Benchmark from 'benchmark';
import { EC2Client, CreateVpcEndpointCommand } from '@aws-sdk/client-ec2';
import { HttpRequest, HttpResponse } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { readCredentialScope, SigV4Verifier } from '../dist/api/aws/sigv4.js';
import { QueryParams } from '../dist/api/aws/query.js';
import { commandLine } from './lib/cli.mjs';

const USAGE = `usage: npm run bench:sigv4 -- [--smoke]

  --smoke     each case briefly: a run of a few seconds
  -h, --help  this text`;
const { smoke } = commandLine('bench:sigv4', USAGE, { smoke: { type: 'boolean', default: false } }).values;
const here = path.dirname(fileURLToPath(import.meta.url));
const credentials = { accessKeyId: 'AKIAVPCEPSIMBENCH001', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };

// A CreateVpcEndpoint as the SDK signs it (8 signed headers, a 600-byte body), captured without a socket.
let captured;
const handler = {
  handle: async (req) => {
    captured = req;
    const body = '<CreateVpcEndpointResponse><requestId>r</requestId><vpcEndpoint><vpcEndpointId>vpce-1</vpcEndpointId></vpcEndpoint></CreateVpcEndpointResponse>';
    return { response: new HttpResponse({ statusCode: 200, headers: { 'content-type': 'text/xml' }, body: Buffer.from(body) }) };
  },
};
const signedAt = Date.now();
await new EC2Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9480', credentials, requestHandler: handler, maxAttempts: 1 }).send(new CreateVpcEndpointCommand({
  VpcId: 'vpc-0123456789abcdef0', ServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0', VpcEndpointType: 'Interface',
  SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'], SecurityGroupIds: ['sg-0123456789abcdef0'], PrivateDnsEnabled: false,
  TagSpecifications: [{ ResourceType: 'vpc-endpoint', Tags: [{ Key: 'Name', Value: 'bench endpoint' }, { Key: 'team', Value: 'net' }] }],
}));
const body = String(captured.body);
const headers = Object.fromEntries(Object.entries(captured.headers).map(([k, v]) => [k.toLowerCase(), v]));
const request = { method: captured.method, path: captured.path, query: '', headers, body: Buffer.from(body) };

const verifier = new SigV4Verifier({ secretFor: (id) => (id === credentials.accessKeyId ? credentials.secretAccessKey : undefined), now: () => signedAt });
const first = verifier.verify(request);
if (!first.ok) throw new Error(`the captured request does not verify: ${first.message}`);

class NodeSha256 {
  constructor(secret) { this.h = secret ? createHmac('sha256', secret) : createHash('sha256'); }
  update(data) { this.h.update(data); }
  async digest() { return this.h.digest(); }
  reset() {}
}
const smithy = new SignatureV4({ credentials, region: 'us-east-1', service: 'ec2', sha256: NodeSha256 });
const signingDate = new Date(signedAt);
const unsignedHeaders = { ...headers };
delete unsignedHeaders.authorization;

let sink = 0;
const suite = new Benchmark.Suite();
const options = smoke ? { maxTime: 0.2, minSamples: 5 } : { maxTime: 3, minSamples: 30 };
suite
  .add('SigV4 verify (SDK-signed CreateVpcEndpoint, derived key cached)', () => { sink ^= verifier.verify(request).ok ? 1 : 0; }, options)
  .add('SigV4 verify, derived key not cached (a new verifier each time)', () => {
    const v = new SigV4Verifier({ secretFor: () => credentials.secretAccessKey, now: () => signedAt });
    sink ^= v.verify(request).ok ? 1 : 0;
  }, options)
  .add('credential scope without verifying (lenient mode)', () => { sink ^= readCredentialScope(request).ok ? 1 : 0; }, options)
  .add('Query parse of the body + typed reads', () => {
    const p = QueryParams.parse(body, 'ec2');
    sink ^= p.stringList('SubnetId').length + p.tagSpecifications().length;
  }, options)
  .add('anchor: SHA-256 of the body (node:crypto)', () => { sink ^= createHash('sha256').update(body).digest()[0]; }, options)
  .add('anchor: HMAC-SHA256 of the body (node:crypto)', () => { sink ^= createHmac('sha256', 'k').update(body).digest()[0]; }, options)
  .add('anchor: @smithy/signature-v4 signs the same request (the SDK signer, async)', {
    defer: true,
    fn: (deferred) => {
      smithy.sign(new HttpRequest({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: 9480, path: '/', headers: { ...unsignedHeaders }, body }), { signingDate })
        .then((r) => { sink ^= r.headers.authorization.length; deferred.resolve(); });
    },
    ...options,
  });

const results = [];
suite.on('cycle', (e) => {
  const b = e.target;
  results.push({ name: b.name, ops_per_sec: Math.round(b.hz), us_per_op: Number((1e6 / b.hz).toFixed(2)), rme_percent: Number(b.stats.rme.toFixed(2)), samples: b.stats.sample.length });
});
suite.on('complete', () => {
  console.table(Object.fromEntries(results.map(({ name, ...figures }) => [name, figures])));
  const out = path.join(here, 'results');
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, `sigv4-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg().map((x) => Number(x.toFixed(2))) };
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(headers.authorization)[1];
  const report = { when: new Date().toISOString(), smoke, node: process.version, machine, request: { signed_headers: signedHeaders, body_bytes: body.length }, results, sink };
  fs.writeFileSync(file, JSON.stringify(report, null, 2));
  console.log(`written ${path.relative(process.cwd(), file)}`);
});
suite.run({ async: true });
