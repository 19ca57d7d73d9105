// EC2's `Filter.N.Name`/`Filter.N.Value.M` over records: a record passes when, for every filter,
// one of its values matches one of the filter's values (`*` any run, `?` one character, as EC2's
// Describe calls document). A filter name the action does not know is the caller's mistake.
import { AwsRequestError } from './actions.js';
import type { QueryFilter } from './query.js';

/** a record's values by filter name (a list: a record may carry several, e.g. tags) */
export type FilterValues = Readonly<Record<string, readonly string[] | string | undefined>>;

const STAR = 42; // '*'
const ONE = 63; // '?'

/**
 * One filter value, ready to test: its runs of `*` made one, and the fewest characters it matches.
 * A value shorter than that is refused before any step, so that what the match costs is bounded by
 * the record's value (a pattern at most twice as long gets that far), not by the request.
 */
interface Glob {
  readonly text: string;
  readonly minLength: number;
}

function glob(value: string): Glob {
  const text = value.replace(/\*{2,}/g, '*');
  let stars = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === STAR) stars++;
  return { text, minLength: text.length - stars };
}

/**
 * Whether `s` matches the glob, in one pass that goes back only to the last `*` seen: at most
 * (pattern length x value length) steps. A regular expression with a `.*` per `*` backtracks
 * exponentially in the number of stars: `Filter.1.Value.1=**************a` (14) held the daemon's
 * one thread for a minute, every account's requests waiting behind it.
 */
function globMatches(g: Glob, s: string): boolean {
  const p = g.text;
  if (s.length < g.minLength) return false;
  let i = 0;
  let j = 0;
  let star = -1;
  let mark = 0;
  while (j < s.length) {
    const c = i < p.length ? p.charCodeAt(i) : -1;
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
  while (i < p.length && p.charCodeAt(i) === STAR) i++;
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
