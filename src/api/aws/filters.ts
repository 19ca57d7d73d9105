// EC2's `Filter.N.Name`/`Filter.N.Value.M` over records: a record passes when, for every filter,
// one of its values matches one of the filter's values (`*` any run, `?` one character, a
// backslash escaping the character after it, as EC2's Filter documents: `\*amazon\?\\` is the
// literal `*amazon?\`). A filter name the action does not know is the caller's mistake.
import { AwsRequestError } from './actions.js';
import type { QueryFilter } from './query.js';

/** a record's values by filter name (a list: a record may carry several, e.g. tags) */
export type FilterValues = Readonly<Record<string, readonly string[] | string | undefined>>;

/** a glob's tokens: a character's code, or one of these */
const STAR = -1; // '*': any run
const ONE = -2; // '?': one character

/**
 * One filter value, ready to test: its tokens (runs of `*` made one, escapes read), and the fewest
 * characters it matches. A value shorter than that is refused before any step, so that what the
 * match costs is bounded by the record's value (a pattern at most twice as long gets that far), not
 * by the request.
 */
interface Glob {
  readonly tokens: Int32Array;
  readonly minLength: number;
}

function glob(value: string): Glob {
  const tokens: number[] = [];
  let stars = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 92 && i + 1 < value.length) tokens.push(value.charCodeAt(++i)); // '\\': the next one as it is
    else if (c === 42) {
      if (tokens[tokens.length - 1] !== STAR) {
        tokens.push(STAR);
        stars++;
      }
    } else tokens.push(c === 63 ? ONE : c);
  }
  return { tokens: Int32Array.from(tokens), minLength: tokens.length - stars };
}

/**
 * Whether `s` matches the glob, in one pass that goes back only to the last `*` seen: at most
 * (pattern length x value length) steps. A regular expression with a `.*` per `*` backtracks
 * exponentially in the number of stars: `Filter.1.Value.1=**************a` (14) held the daemon's
 * one thread for a minute, every account's requests waiting behind it.
 */
function globMatches(g: Glob, s: string): boolean {
  const p = g.tokens;
  if (s.length < g.minLength) return false;
  let i = 0;
  let j = 0;
  let star = -1;
  let mark = 0;
  while (j < s.length) {
    const c = i < p.length ? p[i]! : -3;
    if (c === STAR) {
      star = i++;
      mark = j;
    } else if (c === ONE || (c >= 0 && c === s.charCodeAt(j))) {
      i++;
      j++;
    } else if (star >= 0) {
      i = star + 1;
      j = ++mark;
    } else {
      return false;
    }
  }
  while (i < p.length && p[i] === STAR) i++;
  return i === p.length;
}

/**
 * The records every filter lets through. `known` names the filters the action takes; any other
 * name is InvalidParameterValue ("The filter 'x' is invalid", as EC2 words it).
 */
export function applyFilters<T>(records: readonly T[], filters: readonly QueryFilter[], known: readonly string[], valuesOf: (r: T) => FilterValues): T[] {
  for (const f of filters) {
    if (!known.includes(f.name)) throw new AwsRequestError('InvalidParameterValue', `The filter '${f.name.slice(0, 100)}' is invalid`);
  }
  if (filters.length === 0) return [...records];
  const compiled = filters.map((f) => ({ name: f.name, patterns: f.values.map(glob) }));
  return records.filter((r) => {
    const values = valuesOf(r);
    return compiled.every(({ name, patterns }) => {
      const v = values[name];
      const list = v === undefined ? [] : typeof v === 'string' ? [v] : v;
      return list.some((x) => patterns.some((p) => globMatches(p, x)));
    });
  });
}
