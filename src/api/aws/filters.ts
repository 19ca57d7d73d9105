// EC2's `Filter.N.Name`/`Filter.N.Value.M` over records: a record passes when, for every filter,
// one of its values matches one of the filter's values (`*` any run, `?` one character, as EC2's
// Describe calls document). A filter name the action does not know is the caller's mistake.
import { AwsRequestError } from './actions.js';
import type { QueryFilter } from './query.js';

/** a record's values by filter name (a list: a record may carry several, e.g. tags) */
export type FilterValues = Readonly<Record<string, readonly string[] | string | undefined>>;

function pattern(value: string): RegExp {
  const escaped = value.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 's');
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
  const compiled = filters.map((f) => ({ name: f.name, patterns: f.values.map(pattern) }));
  return records.filter((r) => {
    const values = valuesOf(r);
    return compiled.every(({ name, patterns }) => {
      const v = values[name];
      const list = v === undefined ? [] : typeof v === 'string' ? [v] : v;
      return list.some((x) => patterns.some((p) => p.test(x)));
    });
  });
}
