// The command line of a benchmark script: node's parseArgs with strict options, `-h`/`--help`
// printing the usage, and a bad option or value answered with the usage and exit code 2. Every
// script reads its options here before it starts anything.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { daemonEntry } from './vpcep.mjs';

/**
 * `name` prefixes the messages (`bench:load`); `options` is parseArgs' table (`--help` is added);
 * `positionals`: whether arguments other than options are taken (file names).
 * Returns the values, the positionals, `usage(message)` (prints the message and the usage, then
 * exits 2) and checkers of a value that answer a bad one with usage():
 *   int(flag, fallback, min, max)     an integer from min to max (the fallback when not given)
 *   number(flag, fallback, min, max)  a number from min to max
 *   oneOf(flag, fallback, choices)    one of the choices
 *   checkout(flag)                    a built checkout's directory (its bin/vpcepd.js and what that
 *                                     imports), resolved; null when not given
 */
export function commandLine(name, usageText, options, { positionals: takesPositionals = false } = {}) {
  const usage = (message) => {
    process.stderr.write(`${name}: ${message}\n${usageText}\n`);
    process.exit(2);
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      options: { ...options, help: { type: 'boolean', short: 'h', default: false } },
      strict: true,
      allowPositionals: takesPositionals,
    });
  } catch (err) {
    usage(err.message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${usageText}\n`);
    process.exit(0);
  }
  const given = (flag) => values[flag] !== undefined;
  const between = (integer) => (flag, fallback, min, max) => {
    const x = given(flag) ? Number(values[flag]) : fallback;
    const ok = given(flag) ? values[flag].trim() !== '' && (integer ? Number.isInteger(x) : Number.isFinite(x)) && x >= min && x <= max : true;
    if (!ok) usage(`--${flag} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, not ${JSON.stringify(values[flag])}`);
    return x;
  };
  const oneOf = (flag, fallback, choices) => {
    const x = values[flag] ?? fallback;
    if (!choices.includes(x)) usage(`--${flag} must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}, not ${JSON.stringify(x)}`);
    return x;
  };
  const checkout = (flag) => {
    if (!given(flag)) return null;
    const dir = path.resolve(values[flag]);
    const entry = daemonEntry(dir);
    if (!fs.existsSync(entry)) usage(`--${flag} ${dir}: no ${path.relative(dir, entry)} there (build that checkout first)`);
    return dir;
  };
  return { values, positionals, usage, int: between(true), number: between(false), oneOf, checkout };
}
