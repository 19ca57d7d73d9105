// `vpcepd`: the daemon's command line. Flags win over the environment, which wins over the config file.
import { parseArgs } from 'node:util';
import { startDaemon } from './daemon.js';
import { ConfigError, parseListen } from './model/config.js';
import { DEFAULTS } from './model/defaults.js';
import { createLogger, LOG_LEVELS, type LogLevel } from './telemetry/logger.js';

const USAGE = `usage: vpcepd [--config FILE] [--data-dir DIR] [--listen HOST:PORT] [--log-level LEVEL]

  --config FILE       YAML or JSON config (env VPCEP_CONFIG); default: embedded defaults
  --data-dir DIR      where the database and token live (env VPCEP_DATA_DIR); default ${DEFAULTS.dataDir}
  --listen HOST:PORT  control API and /metrics (env VPCEP_LISTEN); default ${DEFAULTS.listen}
  --log-level LEVEL   ${LOG_LEVELS.join('|')} (env VPCEP_LOG_LEVEL); default ${DEFAULTS.logLevel}
  VPCEP_TOKEN         the default account's token when the config declares no accounts`;

function die(message: string): never {
  process.stderr.write(`vpcepd: ${message}\n`);
  process.exit(2);
}

export async function main(argv: string[]): Promise<void> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        'data-dir': { type: 'string' },
        listen: { type: 'string' },
        'log-level': { type: 'string' },
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
  const env = process.env;
  const level = (args['log-level'] ?? env.VPCEP_LOG_LEVEL ?? DEFAULTS.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(level)) die(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const listenText = args.listen ?? env.VPCEP_LISTEN;
  const listen = listenText === undefined ? undefined : parseListen(listenText);
  if (listen === null) die(`--listen ${JSON.stringify(listenText)} is not HOST:PORT with an IPv4 host`);
  const log = createLogger(level);

  let daemon;
  try {
    daemon = await startDaemon({
      configFile: args.config ?? env.VPCEP_CONFIG,
      dataDir: args['data-dir'] ?? env.VPCEP_DATA_DIR ?? DEFAULTS.dataDir,
      listen,
      token: env.VPCEP_TOKEN === '' ? undefined : env.VPCEP_TOKEN,
      log,
    });
  } catch (err) {
    const known = err instanceof ConfigError || ['StoreError', 'InventoryError', 'DataDirError'].includes((err as Error).name);
    const code = (err as NodeJS.ErrnoException).code;
    const message = known || code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL'
      ? (err as Error).message
      : (err as Error).stack ?? String(err);
    log.fatal({ err: known ? undefined : err }, 'vpcepd cannot start');
    process.stderr.write(`vpcepd: cannot start: ${message}\n`);
    process.exit(1);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: no new API requests; closing the store');
    daemon.stop().then(
      () => { log.info('stopped'); process.exit(0); },
      (err) => { log.error({ err }, 'error while stopping'); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
