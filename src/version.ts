// The package's root directory and its version. The root is where package.json sits, found upward
// from this module's own file, so that a path from it holds wherever the code runs from: dist/,
// src/ under vitest, or the daemon's bundle in dist/bundle/ (`npm run build`).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json in ${from} or above it`);
  }
}

/** the directory holding package.json (and build/, the native relay's) */
export const PACKAGE_ROOT = packageRoot(path.dirname(fileURLToPath(import.meta.url)));

let cached: string | undefined;

/** the package's version, read once from package.json */
export function version(): string {
  cached ??= (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  return cached;
}
