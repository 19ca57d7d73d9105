// Where things are: the repository root and bench/lib.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const libDir = path.dirname(fileURLToPath(import.meta.url));
export const benchDir = path.dirname(libDir);
export const rootDir = path.dirname(benchDir);
