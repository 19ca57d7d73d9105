// The effective configuration as one caller may read it (GET /v1/{project_id}/sim/config): the
// config file's own keys and spelling, every value in effect (defaults filled in), so that a user
// can see what a file did. No secret (tokens, AWS secret keys, webhook URLs, which may carry a
// password) and nothing of the other tenants, not even how many there are.
import type { Config } from '../model/config.js';
import { DEFAULTS } from '../model/defaults.js';
import { storeSpecText } from '../model/store-spec.js';
import type { Account } from '../model/types.js';

/** what the caller may see of the tenants: its own account and the ids of its VPCs */
export interface ConfigReader {
  readonly account: Account;
  readonly vpcs: readonly string[];
}

const hostPort = (a: { readonly host: string; readonly port: number }) => `${a.host}:${a.port}`;

/**
 * CONFIG, the configuration in effect (flags applied, the node's name, the provisioning delay as
 * stored), in the file's keys for READER. `accounts` is the reader's own entry alone, as `account`
 * (a list of one would read as a count); `vpcs` and `public_services` are ids and names;
 * `aws.sns_topics` are the topics the reader may name, their ARNs alone; `defaults` is the one
 * defaults object (src/model/defaults.ts), the fixed limits no key sets included.
 */
export function configView(c: Config, reader: ConfigReader): Record<string, unknown> {
  const d = c.dataplane;
  const a = reader.account;
  return {
    region: c.region,
    zones: c.zones,
    listen: hostPort(c.listen),
    store: storeSpecText(c.store),
    store_durability: c.storeDurability,
    dataplane: {
      snat: d.snat,
      backend_connect_timeout_ms: d.backendConnectTimeoutMs,
      idle_timeout_ms: d.idleTimeoutMs,
      drain_timeout_ms: d.drainTimeoutMs,
      max_connections: d.maxConnections,
      on_premises: d.onPremises,
      socket_buffer_bytes: d.socketBufferBytes,
      snat_ports: `${d.snatPorts.low}-${d.snatPorts.high}`,
      deregistration_delay_s: d.deregistrationDelayS,
      health_check: {
        interval: d.healthCheck.interval_s,
        timeout: d.healthCheck.timeout_s,
        healthy_threshold: d.healthCheck.healthy_threshold,
        unhealthy_threshold: d.healthCheck.unhealthy_threshold,
      },
      unhealthy_connection_termination: { enabled: d.unhealthyTermination.enabled, draining_interval: d.unhealthyTermination.draining_interval_s },
    },
    api: {
      max_pipelined_requests: c.api.maxPipelinedRequests,
      max_connections: c.api.maxConnections,
      request_timeout_ms: c.api.requestTimeoutMs,
      headers_timeout_ms: c.api.headersTimeoutMs,
      idle_timeout_ms: c.api.idleTimeoutMs,
      keep_alive_timeout_ms: c.api.keepAliveTimeoutMs,
    },
    flow_logs: {
      destination: c.flowLogs.destination,
      file: c.flowLogs.file,
      aggregation_interval_s: c.flowLogs.aggregationIntervalS,
      max_file_bytes: c.flowLogs.maxFileBytes,
      rotate_every: c.flowLogs.rotateEvery,
      max_files: c.flowLogs.maxFiles,
      buffer_bytes: c.flowLogs.bufferBytes,
    },
    dns: {
      enabled: c.dns.enabled,
      listen: hostPort(c.dns.listen),
      ttl: c.dns.ttlS,
      forward: c.dns.forward,
      // null: the host's resolvers (/etc/resolv.conf)
      forwarders: c.dns.forwarders ?? null,
      public_records: c.dns.publicRecords,
    },
    faults: { enabled: c.faults.enabled, listen: hostPort(c.faults.listen), provisioning_delay_ms: c.faults.provisioningDelayMs },
    fleet: { lease_ttl_seconds: c.fleet.leaseTtlS, node_name: c.fleet.nodeName ?? null },
    // its token is never shown
    metrics: {},
    account: {
      name: a.name,
      domain_id: a.domain_id,
      project_id: a.project_id,
      quotas: a.quotas,
      aws: { account_id: a.aws_account_id, ...(a.aws_access_key ? { access_key_id: a.aws_access_key.id } : {}) },
    },
    vpcs: reader.vpcs,
    public_services: c.public_services.map((p) => p.name),
    aws: { sns_topics: c.aws.snsTopics.filter((t) => t.accounts.includes(a.aws_account_id)).map((t) => ({ arn: t.arn })) },
    defaults: DEFAULTS,
  };
}
