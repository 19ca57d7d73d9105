// What vpcep_build_info reports: the package's version (src/telemetry and dist/telemetry both sit
// two levels below package.json).
import fs from 'node:fs';

export function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
