// The package's version, read once from package.json (dist/version.js -> ../package.json).
import fs from 'node:fs';

let cached: string | undefined;

export function version(): string {
  cached ??= (JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
