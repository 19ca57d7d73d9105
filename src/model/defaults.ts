// The one defaults object of vpcep-sim. Units are in the names or the comments. Frozen at load;
// the effective configuration is served read-only by GET /v1/{project_id}/sim/config.

function deepFreeze<T>(o: T): T {
  for (const v of Object.values(o as object)) if (v && typeof v === 'object') deepFreeze(v);
  return Object.freeze(o);
}

export const DEFAULTS = deepFreeze({
  region: 'sim-1',
  listen: '127.0.0.1:9480',
  dataDir: './data',
  /** SQLite: an acknowledged write survives a crash of the daemon (process) or also of the OS (power); README "Persistence" */
  storeDurability: 'process' as 'process' | 'power',
  logLevel: 'info',
  /** 000_9af245a83013c30f.txt 1.4 Table 1-1 and "Other Constraints" */
  /** vpc: VPCs an account makes through the AWS API, AWS's default per Region (config VPCs are the operator's) */
  quotas: { endpoint_service: 20, endpoint: 50, connections_per_endpoint: 3000, vpc: 5, dns_records: 1000 },
  dataplane: {
    snat: 'auto' as 'auto' | 'kernel' | 'logical',
    backendConnectTimeoutMs: 5_000, // 5 s
    idleTimeoutMs: 350_000, // 350 s
    drainTimeoutMs: 30_000, // 30 s: how long SIGTERM lets live connections finish
    maxConnections: 1_000_000, // daemon-wide ceiling on concurrent connections
    onPremises: 'allow' as 'allow' | 'deny', // clients outside every VPC reach every endpoint
    /** SO_RCVBUF and SO_SNDBUF of relayed sockets (HAProxy's tune.rcvbuf/tune.sndbuf); 0: the kernel autotunes */
    socketBufferBytes: 262_144, // 256 KiB
    /** source ports per endpoint's SNAT address: 64,512 connections at once to its backends */
    snatPorts: { low: 1024, high: 65535 },
    /** how long a backend removed from a port-backed service keeps its live connections (AWS's deregistration delay) */
    deregistrationDelayS: 300, // 300 s
  },
  api: {
    bodyLimitBytes: 1024 * 1024, // 1 MiB
    listLimit: 10, // default page size of list calls
    maxListLimit: 1000,
    /** the largest list offset taken (9 digits) */
    maxListOffset: 999_999_999,
    /** how long a reject or delete waits for the data plane to tear an endpoint down */
    dataPlaneAckTimeoutMs: 5_000, // 5 s
    /** requests one API connection may have queued or unanswered before it stops being read; twice that, it is cut */
    maxPipelinedRequests: 16,
    /** API connections at once; the next is refused at accept. The data plane keeps this many descriptors free. */
    maxConnections: 128,
    requestTimeoutMs: 30_000, // 30 s: the whole request, body included, else 408 and the connection cut
    headersTimeoutMs: 10_000, // 10 s: the request line and headers
    idleTimeoutMs: 60_000, // 60 s: a connection with no bytes either way is closed
    keepAliveTimeoutMs: 10_000, // 10 s: between requests on a kept-alive connection
    /** a remote address whose connection was cut is refused for this long, doubling per cut up to the max */
    backoffMs: 1_000, // 1 s
    backoffMaxMs: 60_000, // 60 s
    /** remote addresses remembered for back-off; the oldest is forgotten first */
    backoffAddresses: 4096,
    metricsCacheMs: 1_000, // 1 s: the unauthenticated GET /metrics renders at most once per second
    /**
     * how often `nodejs_eventloop_lag_*` samples the event loop: prom-client's default, 10 ms, is a
     * timer that wakes the JS thread 100 times a second, idle or not (README "Metrics")
     */
    eventLoopSampleMs: 100,
  },
  /** connection flow logs, as AWS VPC Flow Logs records (src/telemetry/flow-log.ts); off unless a destination is set */
  flowLogs: {
    destination: 'off' as 'off' | 'stdout' | 'file',
    /** destination file: relative to the data dir; rotated files are FILE.1, FILE.2, ... (before the extension) */
    file: 'flow-logs/flow.log',
    /** AWS's maximum aggregation interval: 600 s (its default) or 60 s; a long connection gets a record per interval */
    aggregationIntervalS: 600 as 60 | 600,
    maxFileBytes: 104_857_600, // 100 MiB: a file is rotated when it reaches this size
    rotateEvery: 'never' as 'never' | 'hourly' | 'daily', // and/or on the hour or the day
    maxFiles: 10, // rotated files kept besides the current one; older ones are removed
    /** records waiting for the disk; past this a record is dropped and counted (a slow or full disk) */
    bufferBytes: 4_194_304, // 4 MiB
  },
  /** the embedded DNS server (src/dns/, README "DNS") */
  dns: {
    enabled: true,
    listen: '127.0.0.1:5353', // UDP and TCP
    ttlS: 60, // 60 s: short, so that a changed answer is seen soon
    forward: false, // tests must not leave the machine: unknown names get NXDOMAIN
    /** a TCP connection with no complete query for this long is closed (RFC 7766 6.2.3 suggests seconds) */
    tcpIdleTimeoutMs: 10_000, // 10 s
    tcpMaxConnections: 64, // TCP connections at once (counted in the data plane's descriptor reserve); the next is closed at accept
    /** a forwarded query unanswered this long gets SERVFAIL */
    forwardTimeoutMs: 2_000, // 2 s
    /** A records of one answer at most (a prefix list's addresses): a UDP answer stays under 512 bytes */
    maxAddresses: 16,
  },
  /** Toxiproxy's HTTP API (src/api/toxiproxy/, README "Fault injection") */
  faults: {
    /** off unless asked: an operator's port without tokens, and test daemons never contend for 8474 */
    enabled: false,
    listen: '127.0.0.1:8474', // Toxiproxy's own default
  },
  notifications: {
    /** deliveries of one connection notification message, the first included; then it is dropped and counted */
    attempts: 4,
    firstRetryDelayMs: 250, // 0.25 s, doubled after each failed attempt
    maxRetryDelayMs: 5_000, // 5 s
    /** one POST to a webhook: longer and the attempt has failed */
    attemptTimeoutMs: 5_000, // 5 s
    /** attempts under way to one webhook at once, one socket each; the next messages wait their turn */
    maxAttemptsPerWebhook: 16,
    /** messages waiting or under way in all; past it a new message is dropped and counted */
    maxPending: 10_000,
  },
  /** the nodes sharing an etcd store (README "Fleet") */
  fleet: {
    /** a node's lease on etcd: SIGKILLed, its record is gone (and its ENIs placed elsewhere) this long after its last keepalive */
    leaseTtlS: 5, // 5 s
    /** how often the leader checks the placement (also at once when a node comes or goes) */
    placementIntervalMs: 1_000, // 1 s
    /** how often a node publishes its connection count with its record (when it changed) */
    publishIntervalMs: 1_000, // 1 s
    /** how often a node publishes its backends' probe states (when they changed and another node is live) */
    healthPublishIntervalMs: 500, // 0.5 s
    /** how long a node whose API enabled a proxy again waits for the verdict of the node serving it (control/fault-verdicts.ts) */
    faultVerdictWaitMs: 2_000, // 2 s
  },
  control: {
    /** how often half-way transitions (creating, deleting) are retried, e.g. after a full disk */
    reconcileIntervalMs: 15_000, // 15 s
  },
  /** the memory a burst of work grew, given back once the daemon is quiet (src/memory-release.ts) */
  memoryRelease: {
    checkIntervalMs: 5_000, // 5 s: a window, and how soon after the burst
    quietShare: 0.05, // quiet: the event loop busy under 5% of the window
    quietRelayTurns: 50, // and the relay threads woken for work fewer than 50 times in it (10 a second)
    growthBytes: 8 * 1024 * 1024, // 8 MiB of RSS over its lowest since the last release
  },
  limits: {
    portMappings: 50, // 000_9af245a83013c30f.txt 2.3: at most 50 port mappings
    endpointWhitelist: 20, // huawei-vpcep-api.md: WhitelistLimit
    tagsPerResource: 20,
    elbTagsPerResource: 50, // ELBv2's quota: 50 tags per load balancer, target group or listener (TooManyTags past it)
    tagKeyLength: 128,
    tagValueLength: 255,
    serviceNameLength: 16,
    descriptionLength: 128,
    servicePermissions: 1000,
  },
});

/** The embedded network used when no config file is given: one account, one VPC, one backend port. */
export const DEFAULT_ACCOUNT_NAME = 'default';
export const DEFAULT_INVENTORY = deepFreeze({
  vpcs: [
    {
      id: 'vpc-default',
      account: DEFAULT_ACCOUNT_NAME,
      cidr: '192.168.0.0/16',
      subnets: [{ id: 'subnet-default', cidr: '192.168.0.0/24' }],
      // Its host address is 127.1.0.10 (VPC number 1): run a backend there to try the quick start.
      ports: [{ id: 'port-default', subnet: 'subnet-default', ip: '192.168.0.10', type: 'VM' as const }],
    },
  ],
});
