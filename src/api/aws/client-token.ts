// EC2's ClientToken (AWS's "Ensuring idempotency in Amazon EC2 API requests"): the token of a create
// and a digest of its other parameters in a canonical form, which the domain keeps on what the
// create made (src/model/rules.ts sameRequest). The same token with the same parameters answers
// what the first call made; with other parameters, IdempotentParameterMismatch.
import { createHash } from 'node:crypto';
import type { ClientToken } from '../../model/types.js';
import { AwsRequestError } from './actions.js';
import type { QueryParams, QueryValue } from './query.js';

/** parameters that do not make a request another one */
const NOT_COMPARED = new Set(['ClientToken', 'DryRun']);

/** a value with its structures' members sorted by name: the order the client sent them in does not count */
function canonical(v: QueryValue): unknown {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(canonical);
  return Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, QueryValue>)[k]!)]);
}

/** the request's `ClientToken` and the digest of its other parameters; undefined: none given (or empty) */
export function clientTokenOf(p: QueryParams): ClientToken | undefined {
  const token = p.string('ClientToken');
  // AWS: at most 64 ASCII characters
  if (token !== undefined && (token.length > 64 || !/^[\x20-\x7e]*$/.test(token))) {
    throw new AwsRequestError('InvalidParameterValue', 'ClientToken must be at most 64 ASCII characters');
  }
  if (!token) return undefined;
  const compared = Object.fromEntries(Object.entries(p.root).filter(([k]) => !NOT_COMPARED.has(k)));
  const digest = createHash('sha256').update(JSON.stringify(canonical(compared))).digest('hex');
  return { token, digest };
}
