// Reads the config file (YAML or JSON) and hands it to the model's validation.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { ConfigError, validateConfig, type Config } from '../model/config.js';
import { DEFAULT_INVENTORY } from '../model/defaults.js';

// loaded only for a YAML file: its 40-odd modules cost a start with a JSON config or none 40 ms of CPU (issue 16)
const requireYaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

/** The configuration from FILE, or the embedded defaults (one account, one VPC) when FILE is absent. */
export function loadConfig(file: string | undefined): Config {
  if (file === undefined) return validateConfig(DEFAULT_INVENTORY, 'embedded defaults');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = file.endsWith('.json') ? JSON.parse(text) : requireYaml().parse(text, { uniqueKeys: true, strict: true });
  } catch (err) {
    // a document nested thousands deep exhausts the parser's stack: say so rather than V8's words
    const message = (err as Error).message.replace('Maximum call stack size exceeded', 'nested too deeply');
    throw new ConfigError(file, [`not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${message}`]);
  }
  if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) {
    throw new ConfigError(file, ['the document must be a mapping of keys (region, listen, accounts, vpcs, ...)']);
  }
  return validateConfig(doc, file);
}
