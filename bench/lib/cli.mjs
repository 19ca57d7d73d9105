// The command line of a benchmark script: node's parseArgs with strict options, `-h`/`--help`
// printing the usage, and a bad option or value answered with the usage and exit code 2.
import { parseArgs } from 'node:util';

/**
 * `name` prefixes the messages (`bench:load`); `options` is parseArgs' table (`--help` is added).
 * Returns the values and `usage(message)`, which prints the message and the usage, then exits 2.
 */
export function commandLine(name, usageText, options) {
  const usage = (message) => {
    process.stderr.write(`${name}: ${message}\n${usageText}\n`);
    process.exit(2);
  };
  let values;
  try {
    values = parseArgs({
      args: process.argv.slice(2),
      options: { ...options, help: { type: 'boolean', short: 'h', default: false } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    usage(err.message);
  }
  if (values.help) {
    process.stdout.write(`${usageText}\n`);
    process.exit(0);
  }
  return { values, usage };
}
