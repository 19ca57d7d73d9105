// Structured logs: pino JSON lines on stdout.
import pino from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type Logger = pino.Logger;

export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { name: 'vpcepd' }, timestamp: pino.stdTimeFunctions.isoTime });
}
