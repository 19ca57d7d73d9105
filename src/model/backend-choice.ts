// Which backend a new connection goes to, as a network load balancer chooses (002_05e46307768ae273.txt
// "Endpoint service Availability Zone considerations"; 003_1ea5fa6dffe78555.txt "Zone affinity"):
// among the eligible targets (healthy, or still initial while no target is healthy; not in a down
// zone), those of the ENI's zone when
// cross-zone load balancing is off or zone affinity is on, else those of every zone; when the
// ENI's zone has none, the other zones (failover); when no target is eligible, every target (fail
// open, as an NLB does). A flow hash of the connection picks one, so a flow always lands on the
// same target while the set does not change. The data plane calls it at every accept and the path
// tracer calls it too, so the two agree. Pure, O(targets), no allocation.
import type { HealthView, ProbeState } from './health.js';

/** why a backend was chosen: counted per decision (vpcep_backend_choices_total) */
export type ChoiceReason = 'same_zone' | 'cross_zone' | 'failover' | 'fail_open';
export const CHOICE_REASONS: readonly ChoiceReason[] = ['same_zone', 'cross_zone', 'failover', 'fail_open'];

/** what the choice reads of a target */
export interface ChoiceTarget {
  readonly key: string;
  /** the key its health is read under (a target group's own probe of it); absent: `key` */
  readonly probe_key?: string;
  /** null: outside every zone, in reach of every ENI (an IP target with AvailabilityZone all) */
  readonly zone: string | null;
}

/** the rules of one terminal port */
export interface ChoiceRules {
  /** the zone of the ENI the client connected to; null: none known (every target is local) */
  readonly zone: string | null;
  /** load_balancing.cross_zone.enabled */
  readonly crossZone: boolean;
  /** the endpoint's zone affinity (Alibaba): stay in the ENI's zone while it has an eligible target */
  readonly zoneAffinity: boolean;
}

/** a target's probe state (a HealthView, or 'initial' when none probes) and whether its zone is down */
export interface ChoiceInputs {
  readonly health: HealthView | null;
  zoneDown(zone: string | null): boolean;
}

const REASON_BITS = 2;
const REASON_MASK = (1 << REASON_BITS) - 1;

/** the index of the target chosen, and why, in one number (no allocation per connection): see choiceIndex/choiceReason */
export type Choice = number;
/** no target at all */
export const NO_CHOICE: Choice = -1;

export const choiceIndex = (c: Choice): number => c >> REASON_BITS;
export const choiceReason = (c: Choice): ChoiceReason => CHOICE_REASONS[c & REASON_MASK]!;
const encode = (index: number, reason: number): Choice => (index << REASON_BITS) | reason;

const stateOf = (t: ChoiceTarget, inputs: ChoiceInputs): ProbeState => (inputs.health === null ? 'initial' : inputs.health.state(t.probe_key ?? t.key));

/**
 * Whether any target is healthy in a zone that is up: then a target still `initial` takes no new
 * connection (AWS's NLB guide: it routes to a new target once it passes the initial health checks,
 * and only to healthy targets), else initial ones are eligible too.
 */
export function anyHealthy(targets: readonly ChoiceTarget[], inputs: ChoiceInputs): boolean {
  if (inputs.health === null) return false;
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    if (inputs.health.state(t.probe_key ?? t.key) === 'healthy' && !inputs.zoneDown(t.zone)) return true;
  }
  return false;
}

/** not in a down zone, and healthy, or still initial while none is healthy (HEALTHY: anyHealthy() of its targets) */
export function eligible(t: ChoiceTarget, inputs: ChoiceInputs, healthy: boolean): boolean {
  const state = stateOf(t, inputs);
  return (state === 'healthy' || (state === 'initial' && !healthy)) && !inputs.zoneDown(t.zone);
}

const local = (t: ChoiceTarget, zone: string | null): boolean => zone === null || t.zone === null || t.zone === zone;

/** the n-th target (from 0) that passes, in order */
function nth(targets: readonly ChoiceTarget[], n: number, inputs: ChoiceInputs, healthy: boolean, zone: string | null, zonalOnly: boolean): number {
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    if (zonalOnly && !local(t, zone)) continue;
    if (!eligible(t, inputs, healthy)) continue;
    if (n-- === 0) return i;
  }
  return -1;
}

/** chooses a target for a flow hash; NO_CHOICE when there is none */
export function chooseBackend(targets: readonly ChoiceTarget[], rules: ChoiceRules, inputs: ChoiceInputs, hash: number): Choice {
  const n = targets.length;
  if (n === 0) return NO_CHOICE;
  const h = hash >>> 0;
  // one pass, each target's state read once: the healthy ones and the initial ones, in all zones
  // and in the ENI's; the initial ones count only when none is healthy (eligible())
  let healthyAll = 0;
  let healthyInZone = 0;
  let initialAll = 0;
  let initialInZone = 0;
  for (let i = 0; i < n; i++) {
    const t = targets[i]!;
    if (inputs.zoneDown(t.zone)) continue;
    const state = stateOf(t, inputs);
    if (state === 'healthy') {
      healthyAll++;
      if (local(t, rules.zone)) healthyInZone++;
    } else if (state === 'initial') {
      initialAll++;
      if (local(t, rules.zone)) initialInZone++;
    }
  }
  const healthy = healthyAll > 0;
  const all = healthy ? healthyAll : initialAll;
  const inZone = healthy ? healthyInZone : initialInZone;
  if (all === 0) return encode(h % n, 3); // fail_open
  const zonal = rules.zone !== null && (!rules.crossZone || rules.zoneAffinity);
  if (!zonal) return encode(nth(targets, h % all, inputs, healthy, null, false), rules.zone === null ? 0 : 1); // cross_zone
  if (inZone > 0) return encode(nth(targets, h % inZone, inputs, healthy, rules.zone, true), 0); // same_zone
  return encode(nth(targets, h % all, inputs, healthy, null, false), 2); // failover
}

/** FNV-1a over the 4 bytes of a 32-bit word, most significant first */
function fnvWord(h: number, w: number): number {
  h = Math.imul(h ^ (w >>> 24), 0x01000193);
  h = Math.imul(h ^ ((w >>> 16) & 255), 0x01000193);
  h = Math.imul(h ^ ((w >>> 8) & 255), 0x01000193);
  return Math.imul(h ^ (w & 255), 0x01000193);
}

/**
 * The flow hash of a connection: the client's host address and port, the ENI's host address and
 * the terminal port, as integers (FNV-1a over their bytes, then murmur3's finalizer so that
 * consecutive client ports spread evenly). Numbers only: the data path builds no text for it.
 */
export function flowHash(clientIp: number, clientPort: number, eniIp: number, port: number): number {
  let h = fnvWord(0x811c9dc5, clientIp);
  h = fnvWord(h, ((clientPort & 0xffff) << 16) | (port & 0xffff));
  h = fnvWord(h, eniIp);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** a choice in words, for the path tracer */
export function choiceText(reason: ChoiceReason, zone: string | null, targetZone: string | null): string {
  const where = targetZone === null ? 'a backend outside every zone' : `a backend in ${targetZone}`;
  switch (reason) {
    case 'same_zone': return zone === null ? `${where}, chosen by flow hash among the eligible backends` : `${where}, chosen by flow hash among the eligible backends of the ENI's zone ${zone}`;
    case 'cross_zone': return `${where}, chosen by flow hash among the eligible backends of every zone (cross-zone load balancing on)`;
    case 'failover': return `${where}: the ENI's zone ${zone} has no eligible backend, so the other zones take the flow (failover)`;
    case 'fail_open': return `${where}: no backend is eligible (all unhealthy or in a down zone), so every backend takes flows (fail open, as an NLB does)`;
  }
}

/** the choice for every flow at once: chooseBackend(targets, rules, inputs, h) is candidates[h % candidates.length], for the same reason */
export interface CompiledChoice {
  /** indexes into the targets, in order; empty: no target at all */
  readonly candidates: readonly number[];
  readonly reason: ChoiceReason;
}

/**
 * chooseBackend() compiled for the current health and zones (the native relay's threads choose by
 * it: src/dataplane/fast-path.ts): the set a flow hash picks from does not depend on the hash.
 */
export function compileChoice(targets: readonly ChoiceTarget[], rules: ChoiceRules, inputs: ChoiceInputs): CompiledChoice {
  const healthy = anyHealthy(targets, inputs);
  const all: number[] = [];
  const inZone: number[] = [];
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    if (!eligible(t, inputs, healthy)) continue;
    all.push(i);
    if (local(t, rules.zone)) inZone.push(i);
  }
  if (all.length === 0) return { candidates: targets.map((_, i) => i), reason: 'fail_open' };
  const zonal = rules.zone !== null && (!rules.crossZone || rules.zoneAffinity);
  if (!zonal) return { candidates: all, reason: rules.zone === null ? 'same_zone' : 'cross_zone' };
  if (inZone.length > 0) return { candidates: inZone, reason: 'same_zone' };
  return { candidates: all, reason: 'failover' };
}
