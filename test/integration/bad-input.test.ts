// Table-driven bad input over real HTTP: every row is a request the API must refuse. Each row checks
// the status, the exact EndPoint code, the exact error body shape, and that the state seen by both
// accounts (services, endpoints, the fixture service's permissions, quotas) did not change.
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiClient, createAvailableService, skipWithoutPortPrivilege, spawnDaemon, startTestDaemon, tempDir, twoAccountConfig, waitFor, writeConfig, CONSUMER, PROVIDER,
  SERVICE_BODY, type ApiResult, type TestDaemon,
} from '../helpers.js';

interface Fixture {
  /** the fixture service: the provider's, approval on, the consumer whitelisted */
  svc: string;
  /** a second service of the provider, with no endpoints */
  other: string;
  /** the consumer's endpoint on the fixture service, pendingAcceptance */
  ep: string;
  /** the IP of that endpoint */
  epIp: string;
}

type Who = 'provider' | 'consumer' | 'no-token' | 'unknown-token' | 'provider-in-consumer-project';
type Dyn<T> = T | ((f: Fixture) => T);

interface Case {
  name: string;
  as: Who;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: Dyn<string>;
  /** an object is sent as JSON; a string is sent raw */
  body?: Dyn<unknown>;
  headers?: Record<string, string>;
  status: number;
  code: string;
  /** the error_msg, where the case is about its wording */
  message?: string;
}

const resolve = <T>(v: Dyn<T>, f: Fixture): T => (typeof v === 'function' ? (v as (f: Fixture) => T)(f) : v);

const SVC = SERVICE_BODY;
const svcWith = (over: Record<string, unknown>): Record<string, unknown> => ({ ...SVC, ...over });
const svcWithout = (key: string): Record<string, unknown> => {
  const { [key]: _gone, ...rest } = SVC as Record<string, unknown>;
  return rest;
};
const mapping = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ client_port: 80, server_port: 8080, protocol: 'TCP', ...over });
const manyMappings = (n: number) => Array.from({ length: n }, (_, i) => ({ client_port: 1000 + i, server_port: 8080, protocol: 'TCP' }));
const manyTags = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: 'v' }));
const manyCidrs = (n: number) => Array.from({ length: n }, (_, i) => `172.16.${i}.0/24`);
const epBody = (f: Fixture, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  endpoint_service_id: f.svc, vpc_id: 'vpc-client', subnet_id: 'subnet-a', ...over,
});

const cases: Case[] = [
  // ---- authentication and ownership
  { name: 'auth: no X-Auth-Token', as: 'no-token', method: 'GET', path: '/vpc-endpoint-services', status: 401, code: 'EndPoint.0003' },
  { name: 'auth: no X-Auth-Token on a create', as: 'no-token', method: 'POST', path: '/vpc-endpoint-services', body: SVC, status: 401, code: 'EndPoint.0003' },
  { name: 'auth: unknown token', as: 'unknown-token', method: 'GET', path: '/vpc-endpoints', status: 401, code: 'EndPoint.0003' },
  { name: 'auth: unknown token on a delete', as: 'unknown-token', method: 'DELETE', path: (f) => `/vpc-endpoint-services/${f.svc}`, status: 401, code: 'EndPoint.0003' },
  { name: 'auth: project_id in the path is not the caller\'s', as: 'provider-in-consumer-project', method: 'GET', path: '/vpc-endpoint-services', status: 403, code: 'EndPoint.0014' },
  { name: 'auth: project_id not the caller\'s on a create', as: 'provider-in-consumer-project', method: 'POST', path: '/vpc-endpoint-services', body: SVC, status: 403, code: 'EndPoint.0014' },
  { name: 'auth: consumer reads the provider\'s service by id', as: 'consumer', method: 'GET', path: (f) => `/vpc-endpoint-services/${f.svc}`, status: 404, code: 'EndPoint.2003' },
  { name: 'auth: consumer deletes the provider\'s service', as: 'consumer', method: 'DELETE', path: (f) => `/vpc-endpoint-services/${f.svc}`, status: 404, code: 'EndPoint.2003' },
  { name: 'auth: consumer modifies the provider\'s service', as: 'consumer', method: 'PUT', path: (f) => `/vpc-endpoint-services/${f.svc}`, body: { approval_enabled: false }, status: 404, code: 'EndPoint.2003' },
  { name: 'auth: consumer adds itself to the provider\'s permissions', as: 'consumer', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.svc}/permissions/action`, body: { action: 'add', permissions: ['*'] }, status: 404, code: 'EndPoint.2003' },
  { name: 'auth: consumer accepts its own endpoint on the provider\'s service', as: 'consumer', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.svc}/connections/action`, body: (f: Fixture) => ({ action: 'receive', endpoints: [f.ep] }), status: 404, code: 'EndPoint.2003' },
  { name: 'auth: provider reads the consumer\'s endpoint', as: 'provider', method: 'GET', path: (f) => `/vpc-endpoints/${f.ep}`, status: 404, code: 'EndPoint.2006' },
  { name: 'auth: provider deletes the consumer\'s endpoint', as: 'provider', method: 'DELETE', path: (f) => `/vpc-endpoints/${f.ep}`, status: 404, code: 'EndPoint.2006' },
  { name: 'auth: provider updates the consumer\'s endpoint', as: 'provider', method: 'PUT', path: (f) => `/vpc-endpoints/${f.ep}`, body: { enable_whitelist: true }, status: 404, code: 'EndPoint.2006' },

  // ---- body format
  { name: 'body: malformed JSON', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: '{"port_id": "port-web",', status: 400, code: 'EndPoint.0002' },
  { name: 'body: empty body with content-type json', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: '', status: 400, code: 'EndPoint.0002' },
  { name: 'body: a JSON array', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: JSON.stringify([SVC]), status: 400, code: 'EndPoint.0002' },
  { name: 'body: a JSON string', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: '"port-web"', status: 400, code: 'EndPoint.0002' },
  { name: 'body: JSON null', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: 'null', status: 400, code: 'EndPoint.0002' },
  { name: 'body: text/plain content type', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: JSON.stringify(SVC), headers: { 'content-type': 'text/plain' }, status: 415, code: 'EndPoint.0002' },
  { name: 'body: application/xml content type', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: '<service/>', headers: { 'content-type': 'application/xml' }, status: 415, code: 'EndPoint.0002' },
  { name: 'body: form-urlencoded content type', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: 'vpc_id=vpc-client', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'EndPoint.0002' },
  { name: 'body: text/plain on an endpoint update', as: 'consumer', method: 'PUT', path: (f) => `/vpc-endpoints/${f.ep}`, body: '{"enable_whitelist":true}', headers: { 'content-type': 'text/plain; charset=utf-8' }, status: 415, code: 'EndPoint.0002' },
  { name: 'body: JSON labelled charset=utf-16 (read as UTF-8 before, whatever its bytes)', as: 'consumer', method: 'PUT', path: (f) => `/vpc-endpoints/${f.ep}`, body: '{"enable_whitelist":true}', headers: { 'content-type': 'application/json; charset=utf-16' }, status: 415, code: 'EndPoint.0002' },
  { name: 'body: over 1 MiB', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: JSON.stringify({ ...SVC, description: 'x'.repeat(1024 * 1024 + 16) }), status: 413, code: 'EndPoint.0002' },
  { name: 'body: __proto__ poisoning', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: `{"port_id":"port-web","vpc_id":"vpc-app","server_type":"VM","ports":[{"client_port":80,"server_port":8080}],"__proto__":{"approval_enabled":false}}`, status: 400, code: 'EndPoint.0002' },
  { name: 'body: constructor.prototype poisoning', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: `{"port_id":"port-web","vpc_id":"vpc-app","server_type":"VM","ports":[{"client_port":80,"server_port":8080}],"constructor":{"prototype":{"polluted":true}}}`, status: 400, code: 'EndPoint.0002' },
  { name: 'body: unknown top-level field', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ colour: 'blue' }), status: 400, code: 'EndPoint.0002' },
  { name: 'body: unknown field inside a port mapping', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ ports: [mapping({ weight: 1 })] }), status: 400, code: 'EndPoint.0002' },

  // ---- create endpoint service
  { name: 'service: missing port_id', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWithout('port_id'), status: 400, code: 'EndPoint.3003' },
  { name: 'service: port_id a number', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ port_id: 42 }), status: 400, code: 'EndPoint.3003' },
  { name: 'service: port_id an array', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ port_id: ['port-web', 'port-lb'] }), status: 400, code: 'EndPoint.3003' },
  { name: 'service: unknown port', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ port_id: 'port-nope' }), status: 404, code: 'EndPoint.4012' },
  { name: 'service: unknown vpc', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ vpc_id: 'vpc-nope' }), status: 404, code: 'EndPoint.2001' },
  { name: 'service: another account\'s VPC', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ vpc_id: 'vpc-client' }), status: 404, code: 'EndPoint.2001' },
  { name: 'service: port of another VPC of the caller', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ vpc_id: 'vpc-provider-client' }), status: 404, code: 'EndPoint.4012' },
  // a field of fixed values absent or of another type is worded as any field's ("must be VM or LB" before)
  { name: 'service: server_type absent', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWithout('server_type'), status: 400, code: 'EndPoint.3021', message: 'server_type: is required' },
  { name: 'service: server_type 5', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ server_type: 5 }), status: 400, code: 'EndPoint.3021', message: 'server_type: must be a string' },
  { name: 'service: server_type XY', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ server_type: 'XY' }), status: 400, code: 'EndPoint.3021', message: 'server_type: must be VM or LB' },
  { name: 'service: server_type VIP', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ server_type: 'VIP' }), status: 400, code: 'EndPoint.3021' },
  { name: 'service: server_type XX', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ server_type: 'XX' }), status: 400, code: 'EndPoint.3021' },
  { name: 'service: server_type LB for a VM port', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ server_type: 'LB' }), status: 400, code: 'EndPoint.3021' },
  { name: 'service: server_type VM for an LB port', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ port_id: 'port-lb' }), status: 400, code: 'EndPoint.3021' },
  { name: 'service: ports empty', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ ports: [] }), status: 400, code: 'EndPoint.3004' },
  { name: 'service: 51 port mappings', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ ports: manyMappings(51) }), status: 400, code: 'EndPoint.3074' },
  { name: 'service: client_port 0', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ ports: [mapping({ client_port: 0 })] }), status: 400, code: 'EndPoint.3004' },
  { name: 'service: client_port 65536', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ ports: [mapping({ client_port: 65536 })] }), status: 400, code: 'EndPoint.3004' },
  { name: 'service: client_port 1.5', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ ports: [mapping({ client_port: 1.5 })] }), status: 400, code: 'EndPoint.3004' },
  { name: 'service: client_port "80" (a string)', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ ports: [mapping({ client_port: '80' })] }), status: 400, code: 'EndPoint.3004' },
  // huawei-vpcep-api.md "Errors": 3043 invalid service port (the backend's; it was 3004, the client's)
  { name: 'service: server_port -1', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ ports: [mapping({ server_port: -1 })] }), status: 400, code: 'EndPoint.3043' },
  { name: 'service: server_port 0', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ ports: [mapping({ server_port: 0 })] }), status: 400, code: 'EndPoint.3043' },
  { name: 'service: server_port 65536', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ ports: [mapping({ server_port: 65536 })] }), status: 400, code: 'EndPoint.3043' },
  { name: 'service: protocol UDP', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ ports: [mapping({ protocol: 'UDP' })] }), status: 400, code: 'EndPoint.3075' },
  { name: 'service: duplicate client_port', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ ports: [mapping(), mapping({ server_port: 9090 })] }), status: 400, code: 'EndPoint.3044' },
  { name: 'service: service_name of 17 characters', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ service_name: 'a'.repeat(17) }), status: 400, code: 'EndPoint.3076' },
  { name: 'service: service_name with a dot', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ service_name: 'web.app' }), status: 400, code: 'EndPoint.3076' },
  { name: 'service: service_name with a space', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ service_name: 'web app' }), status: 400, code: 'EndPoint.3076' },
  { name: 'service: description with <', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ description: 'a <b> tag' }), status: 400, code: 'EndPoint.0002' },
  { name: 'service: description with >', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ description: 'x > y' }), status: 400, code: 'EndPoint.0002' },
  { name: 'service: description of 129 characters', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ description: 'd'.repeat(129) }), status: 400, code: 'EndPoint.0002' },
  { name: 'service: tcp_proxy bogus', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ tcp_proxy: 'bogus' }), status: 400, code: 'EndPoint.0002' },
  { name: 'service: approval_enabled "yes"', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ approval_enabled: 'yes' }), status: 400, code: 'EndPoint.0002' },
  { name: 'service: service_type gateway', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ service_type: 'gateway' }), status: 400, code: 'EndPoint.0002' },
  { name: 'service: 21 tags', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ tags: manyTags(21) }), status: 400, code: 'EndPoint.3067' },
  { name: 'service: tag key empty', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ tags: [{ key: '', value: 'v' }] }), status: 400, code: 'EndPoint.3066' },
  { name: 'service: duplicate tag keys', as: 'provider', method: 'POST', path: '/vpc-endpoint-services', body: svcWith({ tags: [{ key: 'env', value: 'a' }, { key: 'env', value: 'b' }] }), status: 400, code: 'EndPoint.3068' },

  // ---- modify endpoint service
  { name: 'modify service: unknown field', as: 'provider', method: 'PUT', path: (f) => `/vpc-endpoint-services/${f.svc}`, body: { port_id: 'port-lb' }, status: 400, code: 'EndPoint.0002' },
  { name: 'modify service: duplicate client_port', as: 'provider', method: 'PUT', path: (f) => `/vpc-endpoint-services/${f.svc}`, body: { ports: [mapping(), mapping()] }, status: 400, code: 'EndPoint.3044' },
  { name: 'modify service: service_name too long', as: 'provider', method: 'PUT', path: (f) => `/vpc-endpoint-services/${f.svc}`, body: { service_name: 'n'.repeat(17) }, status: 400, code: 'EndPoint.3076' },

  // ---- create endpoint
  { name: 'endpoint: unknown service', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { endpoint_service_id: '00000000-0000-4000-8000-000000000000' }), status: 404, code: 'EndPoint.2003' },
  { name: 'endpoint: service not whitelisted for the caller (other service)', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { endpoint_service_id: f.other }), status: 403, code: 'EndPoint.2012' },
  { name: 'endpoint: missing subnet_id', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => ({ endpoint_service_id: f.svc, vpc_id: 'vpc-client' }), status: 400, code: 'EndPoint.0023' },
  { name: 'endpoint: missing endpoint_service_id', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: { vpc_id: 'vpc-client', subnet_id: 'subnet-a' }, status: 400, code: 'EndPoint.0002' },
  { name: 'endpoint: unknown vpc', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { vpc_id: 'vpc-nope' }), status: 404, code: 'EndPoint.2001' },
  { name: 'endpoint: another account\'s vpc', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { vpc_id: 'vpc-app', subnet_id: 'subnet-app' }), status: 404, code: 'EndPoint.2001' },
  { name: 'endpoint: subnet of another VPC of the same account', as: 'provider', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { vpc_id: 'vpc-provider-client', subnet_id: 'subnet-app' }), status: 400, code: 'EndPoint.2037' },
  { name: 'endpoint: unknown subnet', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { subnet_id: 'subnet-nope' }), status: 404, code: 'EndPoint.4004' },
  { name: 'endpoint: another account\'s subnet', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { subnet_id: 'subnet-pc' }), status: 404, code: 'EndPoint.4004' },
  { name: 'endpoint: port_ip not an IP', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { port_ip: 'ten.0.1.9' }), status: 400, code: 'EndPoint.2041' },
  { name: 'endpoint: port_ip with an octet over 255', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { port_ip: '10.0.1.256' }), status: 400, code: 'EndPoint.2041' },
  { name: 'endpoint: port_ip a number', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { port_ip: 167772425 }), status: 400, code: 'EndPoint.2041' },
  { name: 'endpoint: port_ip outside the subnet', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { port_ip: '10.0.2.3' }), status: 400, code: 'EndPoint.2043' },
  { name: 'endpoint: port_ip the network address', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { port_ip: '10.0.1.0' }), status: 400, code: 'EndPoint.2041' },
  { name: 'endpoint: port_ip the gateway address', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { port_ip: '10.0.1.1' }), status: 400, code: 'EndPoint.2041' },
  { name: 'endpoint: port_ip the broadcast address', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { port_ip: '10.0.1.255' }), status: 400, code: 'EndPoint.2041' },
  { name: 'endpoint: port_ip used by the existing endpoint', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { port_ip: f.epIp }), status: 409, code: 'EndPoint.2042' },
  { name: 'endpoint: whitelist with a bad entry', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { whitelist: ['10.0.0.0/16', 'not-an-ip'] }), status: 400, code: 'EndPoint.2044' },
  { name: 'endpoint: whitelist with a prefix over 32', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { whitelist: ['10.0.0.0/33'] }), status: 400, code: 'EndPoint.2044' },
  { name: 'endpoint: 21 whitelist entries', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { whitelist: manyCidrs(21) }), status: 400, code: 'EndPoint.2045' },
  { name: 'endpoint: routetables for an interface service', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { routetables: ['rtb-1'] }), status: 400, code: 'EndPoint.0002' },
  { name: 'endpoint: enable_dns "true" (a string)', as: 'consumer', method: 'POST', path: '/vpc-endpoints', body: (f: Fixture) => epBody(f, { enable_dns: 'true' }), status: 400, code: 'EndPoint.0002' },

  // ---- list queries
  { name: 'list: limit=-1', as: 'provider', method: 'GET', path: '/vpc-endpoint-services?limit=-1', status: 400, code: 'EndPoint.0006' },
  { name: 'list: limit=1001', as: 'provider', method: 'GET', path: '/vpc-endpoint-services?limit=1001', status: 400, code: 'EndPoint.0006' },
  { name: 'list: limit=abc', as: 'consumer', method: 'GET', path: '/vpc-endpoints?limit=abc', status: 400, code: 'EndPoint.0006' },
  { name: 'list: a malformed percent-escape in a filter (an empty list before)', as: 'consumer', method: 'GET', path: '/vpc-endpoints?endpoint_service_name=%E0%A4%A', status: 400, code: 'EndPoint.0002' },
  { name: 'list: % and no hex digits in a filter', as: 'consumer', method: 'GET', path: '/vpc-endpoints?id=%zz', status: 400, code: 'EndPoint.0002' },
  { name: 'list: offset=-1', as: 'consumer', method: 'GET', path: '/vpc-endpoints?offset=-1', status: 400, code: 'EndPoint.0010' },
  { name: 'list: sort_key=name', as: 'provider', method: 'GET', path: '/vpc-endpoint-services?sort_key=name', status: 400, code: 'EndPoint.0017' },
  { name: 'list: sort_dir=up', as: 'consumer', method: 'GET', path: '/vpc-endpoints?sort_dir=up', status: 400, code: 'EndPoint.0018' },
  { name: 'list: status=bogus', as: 'provider', method: 'GET', path: '/vpc-endpoint-services?status=bogus', status: 400, code: 'EndPoint.0019' },
  { name: 'list connections: limit=abc', as: 'provider', method: 'GET', path: (f) => `/vpc-endpoint-services/${f.svc}/connections?limit=abc`, status: 400, code: 'EndPoint.0006' },
  { name: 'quotas: type=bogus', as: 'consumer', method: 'GET', path: '/quotas?type=bogus', status: 400, code: 'EndPoint.0002' },

  // ---- actions
  { name: 'connections: action absent', as: 'provider', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.svc}/connections/action`, body: (f: Fixture) => ({ endpoints: [f.ep] }), status: 400, code: 'EndPoint.0007', message: 'action: is required' },
  { name: 'connections: action "approve"', as: 'provider', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.svc}/connections/action`, body: (f: Fixture) => ({ action: 'approve', endpoints: [f.ep] }), status: 400, code: 'EndPoint.0007' },
  { name: 'connections: two endpoints in one call', as: 'provider', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.svc}/connections/action`, body: (f: Fixture) => ({ action: 'receive', endpoints: [f.ep, f.ep] }), status: 400, code: 'EndPoint.2031' },
  { name: 'connections: an endpoint not of this service', as: 'provider', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.other}/connections/action`, body: (f: Fixture) => ({ action: 'receive', endpoints: [f.ep] }), status: 400, code: 'EndPoint.2013' },
  { name: 'connections: an unknown endpoint', as: 'provider', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.svc}/connections/action`, body: { action: 'reject', endpoints: ['00000000-0000-4000-8000-000000000000'] }, status: 404, code: 'EndPoint.2006' },
  { name: 'permissions: add "iam:domain::bad id!"', as: 'provider', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.svc}/permissions/action`, body: { action: 'add', permissions: ['iam:domain::bad id!'] }, status: 400, code: 'EndPoint.3002' },
  { name: 'permissions: a good and a bad entry in one call', as: 'provider', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.svc}/permissions/action`, body: { action: 'add', permissions: ['iam:domain::abc123', 'domain::abc'] }, status: 400, code: 'EndPoint.3002' },
  { name: 'permissions: 51 entries in one call', as: 'provider', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.svc}/permissions/action`, body: { action: 'add', permissions: Array.from({ length: 51 }, (_, i) => `iam:domain::d${i}`) }, status: 400, code: 'EndPoint.0016' },
  { name: 'connections: no endpoint named', as: 'provider', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.svc}/connections/action`, body: { action: 'receive', endpoints: [] }, status: 400, code: 'EndPoint.0002' },
  { name: 'permissions: action "grant"', as: 'provider', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.svc}/permissions/action`, body: { action: 'grant', permissions: ['*'] }, status: 400, code: 'EndPoint.0007' },
  { name: 'tags: unknown resource type', as: 'provider', method: 'POST', path: (f) => `/vpc-endpoint-svc/${f.svc}/tags/action`, body: { action: 'create', tags: [{ key: 'a', value: 'b' }] }, status: 404, code: 'EndPoint.0005' },
  { name: 'tags: action "upsert"', as: 'provider', method: 'POST', path: (f) => `/endpoint_service/${f.svc}/tags/action`, body: { action: 'upsert', tags: [{ key: 'a', value: 'b' }] }, status: 400, code: 'EndPoint.0007' },
  { name: 'tags: duplicate keys on the consumer\'s endpoint', as: 'consumer', method: 'POST', path: (f) => `/endpoint/${f.ep}/tags/action`, body: { action: 'create', tags: [{ key: 'a', value: '1' }, { key: 'a', value: '2' }] }, status: 400, code: 'EndPoint.3068' },
  { name: 'tags: the provider tags the consumer\'s endpoint', as: 'provider', method: 'POST', path: (f) => `/endpoint/${f.ep}/tags/action`, body: { action: 'create', tags: [{ key: 'a', value: 'b' }] }, status: 404, code: 'EndPoint.2006' },
  { name: 'route: unknown route', as: 'provider', method: 'GET', path: '/no-such-api/at/all', status: 404, code: 'EndPoint.0005' },
  { name: 'route: unknown method on a known path', as: 'provider', method: 'PUT', path: '/quotas', body: {}, status: 404, code: 'EndPoint.0005' },
  // an empty path parameter is no route: /vpc-endpoints/ was read as the endpoint '' ("endpoint  does not exist", 2006)
  { name: 'route: a list path with a trailing slash', as: 'consumer', method: 'GET', path: '/vpc-endpoints/', status: 404, code: 'EndPoint.0005', message: 'no such API: GET /v1/a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1/vpc-endpoints/' },
  { name: 'route: a delete with an empty id', as: 'consumer', method: 'DELETE', path: '/vpc-endpoints/', status: 404, code: 'EndPoint.0005' },
  { name: 'route: an empty service id inside the path', as: 'provider', method: 'GET', path: '/vpc-endpoint-services//permissions', status: 404, code: 'EndPoint.0005' },
  { name: 'update endpoint: whitelist of 21 entries', as: 'consumer', method: 'PUT', path: (f) => `/vpc-endpoints/${f.ep}`, body: { whitelist: manyCidrs(21), enable_whitelist: true }, status: 400, code: 'EndPoint.2045' },
  { name: 'update endpoint: whitelist with a bad entry', as: 'consumer', method: 'PUT', path: (f) => `/vpc-endpoints/${f.ep}`, body: { whitelist: ['10.0.0.1', '999.0.0.0/8'] }, status: 400, code: 'EndPoint.2044' },
  { name: 'update endpoint: unknown field', as: 'consumer', method: 'PUT', path: (f) => `/vpc-endpoints/${f.ep}`, body: { whitelist: [], subnet_id: 'subnet-b' }, status: 400, code: 'EndPoint.0002' },
  { name: 'update endpoint: unknown endpoint', as: 'consumer', method: 'PUT', path: '/vpc-endpoints/00000000-0000-4000-8000-000000000000', body: { enable_whitelist: false }, status: 404, code: 'EndPoint.2006' },

  // ---- framework-level errors, in the same shape (issue 10, item 15)
  { name: 'url: a bad percent-encoding in an endpoint id', as: 'consumer', method: 'GET', path: '/vpc-endpoints/%E0%A4%A', status: 400, code: 'EndPoint.0002' },
  { name: 'url: a bad percent-encoding in a service id on a delete', as: 'provider', method: 'DELETE', path: '/vpc-endpoint-services/%zz', status: 400, code: 'EndPoint.0002' },
  { name: 'url: an endpoint id of 101 characters', as: 'consumer', method: 'GET', path: `/vpc-endpoints/${'e'.repeat(101)}`, status: 414, code: 'EndPoint.0002' },
  { name: 'url: a service id of 101 characters on a delete', as: 'provider', method: 'DELETE', path: `/vpc-endpoint-services/${'s'.repeat(101)}`, status: 414, code: 'EndPoint.0002' },
  { name: 'headers: over 16 KiB', as: 'consumer', method: 'GET', path: '/vpc-endpoints', headers: { 'x-padding': 'p'.repeat(17 * 1024) }, status: 431, code: 'EndPoint.0002' },
  { name: 'query: vpc_id twice on GET /routetables', as: 'consumer', method: 'GET', path: '/routetables?vpc_id=vpc-client&vpc_id=vpc-nope', status: 400, code: 'EndPoint.0002' },
  { name: 'query: status twice on a list', as: 'provider', method: 'GET', path: '/vpc-endpoint-services?status=available&status=failed', status: 400, code: 'EndPoint.0002' },

  // ---- actions that take no body: anything but none or {} refused before the action runs (a zone was taken down whatever the body)
  { name: 'no body: an array on zone down', as: 'consumer', method: 'POST', path: '/sim/zones/sim-1b/down', body: [], status: 400, code: 'EndPoint.0002' },
  { name: 'no body: a field on zone down', as: 'consumer', method: 'POST', path: '/sim/zones/sim-1b/down', body: { reason: 'test' }, status: 400, code: 'EndPoint.0002' },
  { name: 'no body: JSON null on proxy disable', as: 'consumer', method: 'POST', path: (f) => `/sim/proxies/${f.ep}:80/disable`, body: 'null', status: 400, code: 'EndPoint.0002' },
  { name: 'no body: a field on custom-domain verify', as: 'provider', method: 'POST', path: (f) => `/vpc-endpoint-services/${f.svc}/custom-domain/verify`, body: { name: 'x' }, status: 400, code: 'EndPoint.0002' },
  { name: 'query: id twice on describe', as: 'consumer', method: 'GET', path: (f) => `/vpc-endpoint-services/describe?id=${f.svc}&id=${f.other}`, status: 400, code: 'EndPoint.0002' },
];

/** What both accounts see; a refused request must leave all of it as it was. */
async function snapshot(d: TestDaemon, f: Fixture): Promise<Record<string, ApiResult>> {
  const out: Record<string, ApiResult> = {};
  for (const [who, c] of [['provider', d.provider], ['consumer', d.consumer]] as const) {
    out[`${who} services`] = await c.get('/vpc-endpoint-services?limit=1000');
    out[`${who} endpoints`] = await c.get('/vpc-endpoints?limit=1000');
    out[`${who} quotas`] = await c.get('/quotas');
  }
  out.zones = await d.consumer.get('/sim/zones');
  out['provider permissions'] = await d.provider.get(`/vpc-endpoint-services/${f.svc}/permissions?limit=1000`);
  out['provider other permissions'] = await d.provider.get(`/vpc-endpoint-services/${f.other}/permissions?limit=1000`);
  out['provider connections'] = await d.provider.get(`/vpc-endpoint-services/${f.svc}/connections?limit=1000`);
  for (const [k, v] of Object.entries(out)) expect(v.status, `snapshot ${k}`).toBe(200);
  return out;
}

function expectErrorBody(r: ApiResult, status: number, code: string): void {
  expect({ status: r.status, body: r.body }).toMatchObject({ status, body: { error_code: code } });
  expect(r.body).toBeTypeOf('object');
  expect(r.body).not.toBeNull();
  expect(Object.keys(r.body).sort()).toEqual(['error_code', 'error_msg']);
  expect(r.body.error_code).toMatch(/^EndPoint\.\d{4}$/);
  expect(typeof r.body.error_msg).toBe('string');
  expect(r.body.error_msg.length).toBeGreaterThan(0);
  expect(r.body.error_msg).not.toContain('    at ');
  expect(r.body.error_msg).not.toMatch(/node_modules|\.ts:\d+|\.js:\d+/);
}

function clientFor(d: TestDaemon, who: Who): ApiClient {
  switch (who) {
    case 'provider': return d.provider;
    case 'consumer': return d.consumer;
    case 'no-token': return d.client(undefined, PROVIDER.project_id);
    case 'unknown-token': return d.client('no-such-token', PROVIDER.project_id);
    case 'provider-in-consumer-project': return d.client(PROVIDER.token, CONSUMER.project_id);
  }
}

let d: TestDaemon;
let f: Fixture;

beforeAll(async () => {
  d = await startTestDaemon();
  const svc = await createAvailableService(d, { ...SERVICE_BODY, approval_enabled: true });
  const perm = await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, {
    action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`],
  });
  expect(perm.status).toBe(200);
  const other = await createAvailableService(d, { ...SERVICE_BODY, service_name: 'other', ports: [mapping({ client_port: 81 })] });
  const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
  expect(ep.status).toBe(200);
  expect(ep.body.status).toBe('pendingAcceptance');
  f = { svc: svc.id, other: other.id, ep: ep.body.id, epIp: ep.body.ip };
});

afterAll(async () => {
  await d?.stop();
});

describe('bad input: refused with the right code, the right body, and no change', () => {
  it('has at least 45 cases with unique names', () => {
    expect(cases.length).toBeGreaterThanOrEqual(45);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases)('$name -> $status $code', async (c) => {
    const before = await snapshot(d, f);
    const body = c.body === undefined ? undefined : resolve(c.body, f);
    const r = await clientFor(d, c.as).request(c.method, resolve(c.path, f), body, c.headers ?? {});
    expectErrorBody(r, c.status, c.code);
    if (c.message !== undefined) expect(r.body.error_msg).toBe(c.message);
    await d.daemon.control.settle();
    const after = await snapshot(d, f);
    expect(after).toEqual(before);
  });
});

describe('what node:http and fastify refuse before a route, in the API\'s shape', () => {
  /** the raw answer to raw request bytes: status line, headers and body as sent */
  const rawAnswer = (bytes: string) => new Promise<string>((resolve, reject) => {
    const s = net.connect(Number(new URL(d.url).port), '127.0.0.1', () => s.write(bytes));
    let got = '';
    s.on('data', (b) => { got += String(b); });
    s.on('error', reject);
    s.on('close', () => resolve(got));
    s.setTimeout(5_000, () => s.destroy());
  });
  const jsonBody = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));

  it('CONNECT: 404 with the error body (node:http closed the socket without a word)', async () => {
    const answer = await rawAnswer('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 404 /);
    expect(jsonBody(answer)).toEqual({ error_code: 'EndPoint.0005', error_msg: 'no such API: CONNECT 127.0.0.1:22' });
  });

  it('an Expect other than 100-continue: 417 with the error body (it was empty), nothing made', async () => {
    const before = await snapshot(d, f);
    const body = JSON.stringify({ ...SERVICE_BODY, service_name: 'expect' });
    const answer = await rawAnswer(`POST /v1/${PROVIDER.project_id}/vpc-endpoint-services HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${PROVIDER.token}\r\n`
      + `Content-Type: application/json\r\nExpect: 999-bogus\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expect(answer).toMatch(/^HTTP\/1\.1 417 /);
    expect(jsonBody(answer)).toEqual({ error_code: 'EndPoint.0002', error_msg: 'Expect: 999-bogus is not supported (only 100-continue)' });
    expect(await snapshot(d, f)).toEqual(before);
  });

  it('valid JSON with a __proto__ key: refused, said so (not "malformed JSON")', async () => {
    const r = await d.provider.request('POST', '/vpc-endpoint-services', '{"__proto__":{"a":1},"vpc_id":"vpc-app"}');
    expectErrorBody(r, 400, 'EndPoint.0002');
    expect(r.body.error_msg).toBe('the body holds a forbidden key: __proto__ or constructor.prototype');
    const broken = await d.provider.request('POST', '/vpc-endpoint-services', '{"vpc_id":');
    expect(broken.body.error_msg).toMatch(/^malformed JSON/);
  });

  it('an escaped lone surrogate in a JSON string is refused, nothing made (it was stored and came back as JSON jq refuses); an escaped pair is taken', async () => {
    const before = await snapshot(d, f);
    const lone = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, service_name: 'lone', description: 'a\ud800b' });
    expectErrorBody(lone, 400, 'EndPoint.0002');
    expect(lone.body.error_msg).toContain('lone surrogate');
    const key = await d.provider.request('POST', '/vpc-endpoint-services', '{"\\udc00":1}');
    expectErrorBody(key, 400, 'EndPoint.0002');
    expect(await snapshot(d, f)).toEqual(before);
    const pair = await d.provider.request('POST', '/vpc-endpoint-services', JSON.stringify({ ...SERVICE_BODY, service_name: 'pair', description: 'x' }).replace('"x"', '"\\ud83d\\ude00"'));
    expect(pair.status, JSON.stringify(pair.body)).toBe(200);
    expect(pair.body.description).toBe('\u{1F600}');
    expect((await d.provider.delete(`/vpc-endpoint-services/${pair.body.id}`)).status).toBe(204);
  });

  it('a custom_domain_name the rules refuse names custom_domain_name (it named AWS\'s PrivateDnsName), nothing made', async () => {
    const before = await snapshot(d, f);
    for (const name of ['UPPER.com', 'com', 'api.amazonaws.com']) {
      const r = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, service_name: 'named', custom_domain_name: name });
      expectErrorBody(r, 400, 'EndPoint.0002');
      expect(r.body.error_msg, name).toMatch(new RegExp(`^custom_domain_name: ${JSON.stringify(name).replace(/\./g, '\\.')}: `));
    }
    expect(await snapshot(d, f)).toEqual(before);
  });
});

/** the responses in one connection's bytes, in order: status, headers (lower-case names) and body */
function responses(bytes: string): Array<{ status: number; headers: Record<string, string>; body: string }> {
  const out = [];
  let rest = bytes;
  while (rest.length) {
    const end = rest.indexOf('\r\n\r\n');
    expect(end, `a complete head in ${JSON.stringify(rest.slice(0, 200))}`).toBeGreaterThan(0);
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = Number(headers['content-length']);
    expect(Number.isInteger(length), 'a Content-Length').toBe(true);
    out.push({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine!)?.[1]), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

// The edges of a connection, each in the daemon run in this process (the TypeScript) and in the
// bundled one that users run (bin/vpcepd.js): the bundler once dropped the percent-escape check.
describe.each([
  ['in process', async () => ({ url: d.url, stop: async () => undefined })],
  ['the bundled daemon', async () => {
    const dir = tempDir();
    const child = await spawnDaemon(['--config', writeConfig(dir, twoAccountConfig()), '--data-dir', path.join(dir, 'data')]);
    return { url: child.url, stop: async () => { child.proc.kill('SIGKILL'); await child.exited; } };
  }],
])('a connection\'s edges, answered in the API\'s shape (%s)', (_name, start) => {
  let target: { url: string; stop: () => Promise<void> };
  beforeAll(async () => { target = await start(); });
  afterAll(async () => { await target?.stop(); });

  /** what came back for BYTES, until the daemon closed; HALF_CLOSE shuts the sending side after them */
  const exchange = (bytes: string | Buffer, halfClose = false) => new Promise<string>((resolve, reject) => {
    const s = net.connect(Number(new URL(target.url).port), '127.0.0.1', () => (halfClose ? s.end(bytes) : s.write(bytes)));
    let got = '';
    s.on('data', (b) => { got += String(b); });
    s.on('error', reject);
    s.on('close', () => resolve(got));
    s.setTimeout(5_000, () => s.destroy());
  });
  const head = (method: string, url: string, more = '') => `${method} /v1/${PROVIDER.project_id}${url} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${PROVIDER.token}\r\n${more}`;
  const json = (method: string, url: string, body: unknown) => {
    const text = JSON.stringify(body);
    return `${head(method, url, `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n`)}\r\n${text}`;
  };
  const provider = () => new ApiClient(target.url, PROVIDER.token, PROVIDER.project_id);

  it('a malformed percent-escape in the query: 400 EndPoint.0002, not an empty list', async () => {
    const [r] = responses(await exchange(`${head('GET', '/vpc-endpoint-services?endpoint_service_name=%zz', 'Connection: close\r\n')}\r\n`));
    expect(r!.status).toBe(400);
    expect(JSON.parse(r!.body)).toMatchObject({ error_code: 'EndPoint.0002', error_msg: expect.stringMatching(/percent-escape/) });
  });

  it('an HTTP/1.1 request without a Host: 400 with the error body (node:http answered a bare 400), in EC2\'s shape for an AWS request', async () => {
    const [huawei] = responses(await exchange(`GET /v1/${PROVIDER.project_id}/vpc-endpoint-services HTTP/1.1\r\nX-Auth-Token: ${PROVIDER.token}\r\n\r\n`));
    expect(huawei!.status).toBe(400);
    expect(huawei!.headers.connection).toBe('close');
    expect(JSON.parse(huawei!.body)).toEqual({ error_code: 'EndPoint.0002', error_msg: 'an HTTP/1.1 request must carry a Host header' });
    const form = 'Action=DescribeVpcs&Version=2016-11-15';
    const [aws] = responses(await exchange('POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n'
      + `Authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261207/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00\r\nContent-Length: ${form.length}\r\n\r\n${form}`));
    expect(aws!.status).toBe(400);
    expect(aws!.body).toMatch(/^<\?xml[^>]*>\s*<Response><Errors><Error><Code>[A-Za-z.]+<\/Code><Message>an HTTP\/1\.1 request must carry a Host header<\/Message>/);
  });

  it('two Host lines or a Host that is no host: 400 with the error body (RFC 9112 3.2; they were served)', async () => {
    for (const [host, word] of [['Host: x\r\nHost: y', 'one Host header'], ['Host: a b/c@d', 'not a host name']] as const) {
      const [r] = responses(await exchange(`GET /v1/${PROVIDER.project_id}/quotas HTTP/1.1\r\n${host}\r\nX-Auth-Token: ${PROVIDER.token}\r\n\r\n`));
      expect(r!.status, host).toBe(400);
      expect(JSON.parse(r!.body).error_msg).toContain(word);
    }
    const [ok] = responses(await exchange(`GET /v1/${PROVIDER.project_id}/quotas HTTP/1.1\r\nHost: [::1]:9480\r\nX-Auth-Token: ${PROVIDER.token}\r\nConnection: close\r\n\r\n`));
    expect(ok!.status).toBe(200);
  });

  it('a JSON body that is not UTF-8: 415 EndPoint.0002, nothing made (its bytes were stored as U+FFFD)', async () => {
    const before = (await provider().get('/vpc-endpoint-services')).body.total_count;
    // a description of x, the bytes C3 28 (a lead byte without its continuation), y
    const [left, right] = JSON.stringify({ ...SERVICE_BODY, service_name: 'latin1', description: 'x@y' }).split('@') as [string, string];
    const body = Buffer.concat([Buffer.from(left), Buffer.from([0xc3, 0x28]), Buffer.from(right)]);
    const [r] = responses(await exchange(Buffer.concat([Buffer.from(`${head('POST', '/vpc-endpoint-services', `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n`)}\r\n`), body])));
    expect(r!.status).toBe(415);
    expect(JSON.parse(r!.body)).toMatchObject({ error_code: 'EndPoint.0002', error_msg: expect.stringContaining('not UTF-8') });
    expect((await provider().get('/vpc-endpoint-services')).body.total_count).toBe(before);
  });

  it('a write, then the client\'s half-close (shutdown of its sending side): the write\'s answer, then the close', async () => {
    const all = responses(await exchange(json('POST', '/vpc-endpoint-services', { ...SERVICE_BODY, service_name: 'halfclose' }), true));
    expect(all.map((r) => r.status)).toEqual([200]);
    const id = JSON.parse(all[0]!.body).id;
    expect((await provider().get(`/vpc-endpoint-services/${id}`)).status).toBe(200);
    expect((await provider().delete(`/vpc-endpoint-services/${id}`)).status).toBe(204);
  });

  it('a write and a read pipelined, then malformed bytes: their answers in order, then the 400, then the close', async () => {
    const all = responses(await exchange(`${json('POST', '/vpc-endpoint-services', { ...SERVICE_BODY, service_name: 'pipelined' })}${head('GET', '/quotas')}\r\nBAD\r\n\r\n`));
    expect(all.map((r) => r.status)).toEqual([200, 200, 400]);
    const id = JSON.parse(all[0]!.body).id;
    expect(JSON.parse(all[1]!.body)).toHaveProperty('quotas');
    expect(JSON.parse(all[2]!.body)).toEqual({ error_code: 'EndPoint.0002', error_msg: 'malformed HTTP request' });
    expect(all[2]!.headers.connection).toBe('close');
    expect((await provider().delete(`/vpc-endpoint-services/${id}`)).status).toBe(204);
  });
});

describe('delete of a service in use', () => {
  it('refuses with 409 EndPoint.3006 and keeps the service and its accepted endpoint', async () => {
    const svc = await createAvailableService(d, { ...SERVICE_BODY, service_name: 'inuse', ports: [mapping({ client_port: 82 })] });
    const perm = await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, {
      action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`],
    });
    expect(perm.status).toBe(200);
    const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-b' });
    expect(ep.status).toBe(200);
    expect(ep.body.status).toBe('pendingAcceptance');
    const acc = await d.provider.post(`/vpc-endpoint-services/${svc.id}/connections/action`, { action: 'receive', endpoints: [ep.body.id] });
    expect(acc.status).toBe(200);
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${ep.body.id}`)).body.status === 'accepted', 5_000, 'endpoint accepted');

    const before = await snapshot(d, f);
    const r = await d.provider.delete(`/vpc-endpoint-services/${svc.id}`);
    expectErrorBody(r, 409, 'EndPoint.3006');
    const after = await snapshot(d, f);
    expect(after).toEqual(before);

    const s = await d.provider.get(`/vpc-endpoint-services/${svc.id}`);
    expect(s.status).toBe(200);
    expect(s.body.status).toBe('available');
    const e = await d.consumer.get(`/vpc-endpoints/${ep.body.id}`);
    expect(e.status).toBe(200);
    expect(e.body.status).toBe('accepted');
    const conns = await d.provider.get(`/vpc-endpoint-services/${svc.id}/connections`);
    expect(conns.status).toBe(200);
    expect(conns.body.connections.map((x: { id: string; status: string }) => [x.id, x.status])).toEqual([[ep.body.id, 'accepted']]);
  });
});

describe('the API contract of common HTTP clients (issue 10, item 15)', () => {
  it('a wrong type is reported as "must be a <type>", and only an absent field as "is required"', async () => {
    const mistyped = await d.provider.post('/vpc-endpoint-services', svcWith({ port_id: 42 }));
    expect(mistyped).toEqual({ status: 400, body: { error_code: 'EndPoint.3003', error_msg: 'port_id: must be a string' } });
    const notArray = await d.provider.post('/vpc-endpoint-services', svcWith({ ports: 'TCP:80' }));
    expect(notArray).toEqual({ status: 400, body: { error_code: 'EndPoint.3004', error_msg: 'ports: must be an array' } });
    const absent = await d.provider.post('/vpc-endpoint-services', svcWithout('port_id'));
    expect(absent).toEqual({ status: 400, body: { error_code: 'EndPoint.3003', error_msg: 'port_id: is required' } });
  });

  it('a repeated vpc_id on GET /routetables is refused, never dropped to list every VPC\'s tables', async () => {
    const r = await d.consumer.get('/routetables?vpc_id=vpc-client&vpc_id=vpc-client');
    expectErrorBody(r, 400, 'EndPoint.0002');
    expect(r.body.error_msg).toContain('vpc_id');
  });

  it('a GET or DELETE with Content-Type: application/json and an empty body is served, as the Huawei SDKs send it', async () => {
    const json = { 'content-type': 'application/json' };
    const list = await d.consumer.request('GET', '/vpc-endpoints', undefined, json);
    expect(list.status).toBe(200);
    const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: f.svc, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(ep.status).toBe(200);
    const del = await d.consumer.request('DELETE', `/vpc-endpoints/${ep.body.id}`, '', json);
    expect(del.status).toBe(204);
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${ep.body.id}`)).status === 404, 5_000, 'the endpoint gone');
  });
});

describe('a bodyless DELETE with Content-Type: application/json on a gateway endpoint', () => {
  it('deletes it and its routes go from the route table', async () => {
    const g = await startTestDaemon(twoAccountConfig({
      public_services: [{ name: 'obs', service_type: 'gateway', prefix_list: { id: 'pl-obs', cidrs: ['100.125.0.0/24'] }, ports: [{ port: 80, target: '127.0.0.1:19000' }] }],
    }));
    try {
      skipWithoutPortPrivilege(); // its port 80
      const obs = (await g.consumer.get('/vpc-endpoint-services/public')).body.endpoint_services[0];
      const table = (await g.consumer.get('/routetables?vpc_id=vpc-client')).body.routetables[0];
      const ep = await g.consumer.post('/vpc-endpoints', { endpoint_service_id: obs.id, vpc_id: 'vpc-client', routetables: [table.id] });
      expect(ep.status).toBe(200);
      const routesTo = async () => (await g.consumer.get(`/routetables/${table.id}`)).body.routetable.routes
        .filter((r: { nexthop: string | null }) => r.nexthop === ep.body.id);
      await waitFor(async () => (await routesTo()).length > 0, 5_000, 'the gateway endpoint\'s routes');
      const del = await g.consumer.request('DELETE', `/vpc-endpoints/${ep.body.id}`, '', { 'content-type': 'application/json' });
      expect(del.status).toBe(204);
      await waitFor(async () => (await g.consumer.get(`/vpc-endpoints/${ep.body.id}`)).status === 404, 5_000, 'the endpoint gone');
      expect(await routesTo()).toEqual([]);
    } finally {
      await g.stop();
    }
  });
});
