// Structured logs: pino JSON lines on stdout.
import pino from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type Logger = pino.Logger;

/** log lines held while stdout cannot take them (a full disk under it); past this, lines are dropped */
const LOG_BUFFER_BYTES = 4 * 1024 * 1024;

export function createLogger(level: LogLevel): Logger {
  // stdout written as it comes (pino's default), but a write that fails is neither a crash nor a
  // stall: the lines wait in the buffer (up to LOG_BUFFER_BYTES, then are dropped) and go out with
  // the next line once there is room again; the log then says how many it dropped
  let dropped = 0;
  let failing = false;
  const destination = pino.destination({ fd: 1, sync: true, maxLength: LOG_BUFFER_BYTES });
  destination.on('error', () => { failing = true; });
  destination.on('drop', () => { dropped++; });
  const logger = pino({ level, base: { name: 'vpcepd' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  destination.on('write', () => {
    if (!failing) return;
    failing = false;
    if (dropped) logger.warn({ dropped_lines: dropped }, 'log: lines were dropped while stdout could not be written (a full disk?)');
    dropped = 0;
  });
  return logger;
}
