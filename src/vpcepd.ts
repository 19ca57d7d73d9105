// `vpcepd`: the daemon's command line. Flags win over the environment, which wins over the config file.
import { parseArgs } from 'node:util';
import { startDaemon, type Daemon } from './daemon.js';
import { version } from './version.js';
import { ConfigError, NODE_NAME, NODE_NAME_RULE, parseListen } from './model/config.js';
import { DEFAULTS } from './model/defaults.js';
import { parseStoreSpec } from './model/store-spec.js';
import { createLogger, LOG_LEVELS, type LogLevel } from './telemetry/logger.js';

const USAGE = `usage: vpcepd [--config FILE] [--data-dir DIR] [--store STORE] [--listen HOST:PORT] [--dns-listen HOST:PORT] [--node-name NAME] [--log-level LEVEL] [--exit-with-parent] [--version]

  --config FILE       YAML or JSON config (env VPCEP_CONFIG); default: embedded defaults
  --data-dir DIR      where the database and token live (env VPCEP_DATA_DIR); default ${DEFAULTS.dataDir}
  --store STORE       sqlite (the data dir's file) or etcd://host:port[,host:port][/prefix], shared by
                      several vpcepd (env VPCEP_STORE); default the config's store, sqlite
  --listen HOST:PORT  control API and /metrics (env VPCEP_LISTEN); default ${DEFAULTS.listen}
  --dns-listen HOST:PORT
                      the DNS server, UDP and TCP (env VPCEP_DNS_LISTEN); default dns.listen, ${DEFAULTS.dns.listen}
  --node-name NAME    this node's name in a fleet on etcd (env VPCEP_NODE_NAME); default fleet.node_name,
                      else <host name>-<node id>
  --log-level LEVEL   ${LOG_LEVELS.join('|')} (env VPCEP_LOG_LEVEL); default ${DEFAULTS.logLevel}
  --exit-with-parent  stop (as on SIGTERM) when the process that started vpcepd exits (npm start sets it)
  --version           print the version and exit
  VPCEP_TOKEN         the default account's token when the config declares no accounts

signals: SIGTERM, SIGINT drain and stop (exit 0), a second one cuts what is left; SIGHUP reloads the config file
(metrics.token, dataplane.drain_timeout_ms; a bad file or any other change is refused and logged)

examples:
  vpcepd --config quickstart.yaml --data-dir /tmp/vpcep &
  vpcep wait --timeout 30 && echo ready
  kill -HUP <pid>     # reload (the pid is in the "vpcepd ready" log line)`;

function die(message: string): never {
  process.stderr.write(`vpcepd: ${message}\n`);
  process.exit(2);
}

/** `early`: the signals bin/vpcepd.js held while the bundle loaded, in their order, acted on as if they came now */
export async function main(argv: string[], early: readonly NodeJS.Signals[] = []): Promise<void> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        'data-dir': { type: 'string' },
        store: { type: 'string' },
        listen: { type: 'string' },
        'dns-listen': { type: 'string' },
        'node-name': { type: 'string' },
        'log-level': { type: 'string' },
        'exit-with-parent': { type: 'boolean' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    die(`${(err as Error).message}\n${USAGE}`);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (args.version) {
    process.stdout.write(`vpcepd ${version()}\n`);
    return;
  }
  const env = process.env;
  /** where a setting came from, as its message names it: the flag, else its variable */
  const from = (flag: string, variable: string) => (args[flag as keyof typeof args] !== undefined ? `--${flag}` : variable);
  // an empty one would be the current directory: the store and the token written wherever vpcepd was started
  if (args['data-dir'] === '') die('--data-dir must name a directory (it is empty)');
  if (args.config === '') die('--config must name a file (it is empty)');
  // an empty VPCEP_CONFIG is unset, as an empty VPCEP_DATA_DIR is
  const configFile = args.config ?? (env.VPCEP_CONFIG || undefined);
  const level = (args['log-level'] ?? env.VPCEP_LOG_LEVEL ?? DEFAULTS.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(level)) die(`${from('log-level', 'VPCEP_LOG_LEVEL')} must be one of ${LOG_LEVELS.join(', ')}`);
  const listenText = args.listen ?? env.VPCEP_LISTEN;
  const listen = listenText === undefined ? undefined : parseListen(listenText);
  if (listen === null) die(`${from('listen', 'VPCEP_LISTEN')} ${JSON.stringify(listenText)} is not HOST:PORT with an IPv4 host`);
  const dnsListenText = args['dns-listen'] ?? env.VPCEP_DNS_LISTEN;
  const dnsListen = dnsListenText === undefined ? undefined : parseListen(dnsListenText);
  if (dnsListen === null) die(`${from('dns-listen', 'VPCEP_DNS_LISTEN')} ${JSON.stringify(dnsListenText)} is not HOST:PORT with an IPv4 host`);
  const storeText = args.store ?? env.VPCEP_STORE;
  const store = storeText === undefined ? undefined : parseStoreSpec(storeText);
  if (typeof store === 'string') die(`${from('store', 'VPCEP_STORE')} ${store}`);
  const nodeName = args['node-name'] ?? env.VPCEP_NODE_NAME;
  if (nodeName !== undefined && !NODE_NAME.test(nodeName)) die(`${from('node-name', 'VPCEP_NODE_NAME')} ${JSON.stringify(nodeName)}: ${NODE_NAME_RULE}`);
  // the default account's token: an account's token's rules (an HTTP header loses what is around it)
  const token = env.VPCEP_TOKEN === '' ? undefined : env.VPCEP_TOKEN;
  if (token !== undefined && (token.length < 8 || token.length > 256 || !/^\S(.*\S)?$/.test(token))) {
    die('VPCEP_TOKEN must be 8-256 characters, and not begin or end with white space (an HTTP header loses it)');
  }
  const log = createLogger(level);

  // Signals are handled from the first moment: one that arrives while starting is acted on once started.
  let daemon: Daemon | undefined;
  let stopping: string | undefined;
  let reloadWhenStarted = false;
  const stop = (why: string) => {
    if (stopping) {
      // a second signal while draining: cut what is left and stop now (as HAProxy's hard stop)
      if (daemon && why !== 'parent exited') log.warn({ signal: why, cut: daemon.dataPlane.endDrain() }, 'second signal: cutting the connections still open');
      return;
    }
    stopping = why;
    if (!daemon) {
      log.info({ signal: why }, 'stop requested while starting: vpcepd stops once started');
      return;
    }
    log.info({ signal: why }, 'stopping: draining connections, then closing the API and the store');
    daemon.stop().then(
      () => { log.info('stopped'); process.exit(0); },
      (err) => { log.error({ err }, 'error while stopping'); process.exit(1); },
    );
  };
  const hangUp = () => {
    if (daemon) return reload(daemon, log);
    reloadWhenStarted = true;
    log.info('SIGHUP while starting: the config file is read again once started');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', hangUp);
  for (const signal of early) {
    if (signal === 'SIGHUP') hangUp();
    else stop(signal);
  }
  if (args['exit-with-parent']) watchParent(() => stop('parent exited'));

  try {
    daemon = await startDaemon({
      configFile,
      dataDir: args['data-dir'] ?? (env.VPCEP_DATA_DIR || DEFAULTS.dataDir),
      listen,
      store,
      dnsListen,
      nodeName,
      token,
      log,
    });
  } catch (err) {
    const known = err instanceof ConfigError || ['StoreError', 'InventoryError', 'DataDirError', 'ListenError', 'SnatModeError'].includes((err as Error).name);
    const code = (err as NodeJS.ErrnoException).code;
    const message = known || code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL'
      ? (err as Error).message
      : (err as Error).stack ?? String(err);
    log.fatal({ err: known ? undefined : err }, 'vpcepd cannot start');
    process.stderr.write(`vpcepd: cannot start: ${message}\n`);
    process.exit(1);
  }
  if (stopping) {
    const why = stopping;
    stopping = undefined;
    stop(why);
  } else if (reloadWhenStarted) {
    reload(daemon, log);
  }
}

/** SIGHUP: re-reads the config file; a bad one is refused and logged, and the running state kept */
function reload(daemon: Daemon, log: ReturnType<typeof createLogger>): void {
  if (daemon.phase !== 'ready') {
    log.warn('SIGHUP ignored: vpcepd is stopping');
    return;
  }
  try {
    const applied = daemon.reload();
    log.info({ applied }, applied.length ? 'config reloaded' : 'config reloaded: nothing changed');
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
    log.error({ problems }, 'config reload refused: the running config is kept');
  }
}

/** calls `gone` once the parent exits (we are re-parented): npm start killed by a signal it does not forward */
function watchParent(gone: () => void): void {
  const parent = process.ppid;
  const t = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(t);
    gone();
  }, 500);
  t.unref();
}
