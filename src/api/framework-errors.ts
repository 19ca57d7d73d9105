// What fastify and node:http refuse before a request reaches a route (a bad URL, a body too large
// or of the wrong type, malformed JSON), by the domain's names: every dialect answers them in its
// own shape; and how long a message any dialect's error answer carries may be.
import { DomainError } from '../model/errors.js';

type FrameworkError = Error & { code?: string; statusCode?: number };

/** errors met while routing, before any hook: a bad URL encoding, an id over 100 characters */
export function routingError(err: FrameworkError): DomainError {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') return new DomainError('UriTooLong');
  return new DomainError('InvalidParameter', err.code === 'FST_ERR_BAD_URL' ? 'bad URL encoding in the path' : err.message);
}

/** a domain error as it is; fastify's client errors by name; null for anything else (a fault of vpcepd's) */
export function requestError(err: FrameworkError): DomainError | null {
  if (err instanceof DomainError) return err;
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new DomainError('BodyTooLarge');
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new DomainError('UnsupportedMediaType');
  if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return new DomainError('InvalidParameter', 'the request body is empty: a JSON object is expected');
  if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return new DomainError('InvalidParameter', `malformed JSON: ${err.message}`);
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) return new DomainError('InvalidParameter', err.message);
  return null;
}

/** the longest error message an answer carries: messages quote what the client sent (an id, a value) */
export const MAX_ERROR_MESSAGE = 1024;

/** a message as an answer carries it: cut to MAX_ERROR_MESSAGE, saying so (a 500 KB id must not come back in full) */
export function boundedMessage(m: string): string {
  return m.length <= MAX_ERROR_MESSAGE ? m : `${m.slice(0, MAX_ERROR_MESSAGE - 40)}... (cut: ${m.length} characters)`;
}
