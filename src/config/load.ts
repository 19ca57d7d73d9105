// Reads the config file (YAML or JSON) and hands it to the model's validation.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { ConfigError, pathText, validateConfig, type Config } from '../model/config.js';
import { DEFAULT_INVENTORY } from '../model/defaults.js';

// loaded only for a YAML file: its 40-odd modules cost a start with a JSON config or none 40 ms of CPU (issue 16)
const requireYaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');
// loaded only for a JSON file, by Node from node_modules: its UMD build's own requires do not bundle
const requireJsonc = (): typeof import('jsonc-parser') => createRequire(import.meta.url)('jsonc-parser') as typeof import('jsonc-parser');

/** the largest config file read */
export const MAX_CONFIG_BYTES = 16 * 2 ** 20;

/** The configuration from FILE, or the embedded defaults (one account, one VPC) when FILE is absent. */
export function loadConfig(file: string | undefined): Config {
  if (file === undefined) return validateConfig(DEFAULT_INVENTORY, 'embedded defaults');
  let text: string;
  try {
    // a config's size is KiBs (254 VPCs with their ports: a few MiB); a 50 MB one took 1.8 GB and
    // 11 s to parse, and a SIGHUP's reload blocked the API as long
    const size = fs.statSync(file).size;
    if (size > MAX_CONFIG_BYTES) throw new ConfigError(file, [`the file holds ${size} bytes: a config holds at most ${MAX_CONFIG_BYTES} bytes (16 MiB)`]);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    // not an invalid configuration: no configuration at all
    throw new ConfigError(file, [(err as Error).message], 'cannot read the config file');
  }
  let doc: unknown;
  // JSON.parse keeps the last of a key given twice, silently; YAML's uniqueKeys refuses it, and so do these
  let twice: string[] = [];
  try {
    if (file.endsWith('.json')) {
      doc = JSON.parse(text);
      twice = duplicateKeys(text);
    } else {
      doc = requireYaml().parse(text, { uniqueKeys: true, strict: true });
    }
  } catch (err) {
    // a document nested thousands deep exhausts the parser's stack: say so rather than V8's words
    // its first line (yaml's message goes on with a picture of the line): where and what
    const message = (err as Error).message.replace('Maximum call stack size exceeded', 'nested too deeply').split('\n')[0]!.trim();
    throw new ConfigError(file, [`not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${message}`]);
  }
  if (twice.length > 0) throw new ConfigError(file, twice);
  if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) {
    throw new ConfigError(file, ['the document must be a mapping of keys (region, listen, accounts, vpcs, ...)']);
  }
  return validateConfig(doc, file);
}

/** the keys given twice in one object of a JSON text (one that JSON.parse took), by path and line */
function duplicateKeys(text: string): string[] {
  const problems: string[] = [];
  const objects: Array<Set<string>> = [];
  requireJsonc().visit(text, {
    onObjectBegin: () => { objects.push(new Set()); },
    onObjectEnd: () => { objects.pop(); },
    onObjectProperty: (key, _offset, _length, line, column, pathOf) => {
      const keys = objects[objects.length - 1]!;
      if (keys.has(key)) problems.push(`${pathText(pathOf())}: duplicate key ${JSON.stringify(key)} at line ${line + 1}, column ${column + 1}`);
      keys.add(key);
    },
  });
  return problems;
}
