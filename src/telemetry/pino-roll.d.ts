// pino-roll ships no types: the options vpcep-sim passes (its README), and the SonicBoom it returns.
declare module 'pino-roll' {
  import type { SonicBoom, SonicBoomOpts } from 'sonic-boom';
  interface PinoRollOptions extends Omit<SonicBoomOpts, 'dest' | 'fd'> {
    file: string;
    size?: string | number;
    frequency?: 'daily' | 'hourly' | number;
    extension?: string;
    limit?: { count?: number; removeOtherLogFiles?: boolean };
    symlink?: boolean;
    dateFormat?: string;
  }
  export default function pinoRoll(options: PinoRollOptions): Promise<SonicBoom>;
}
