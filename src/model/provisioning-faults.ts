// Provisioning faults (issue 15): what Terraform's and operators' waiters and retries never meet
// when an activation takes 5 ms. A delay before an endpoint's activation turns it accepted (AWS
// `pending` -> `available`), and failures on demand: one endpoint's activation, or the next
// activation of a service. The control plane stores the switches and the delay set through the API
// (control/provisioning-faults.ts): every node of a fleet holds them, and the node that activates
// an endpoint takes its switch.

/** the longest activation delay (faults.provisioning_delay_ms, PUT /sim/faults): 1 h, ms */
export const PROVISIONING_DELAY_MAX_MS = 3_600_000;

/** the message of a failure asked for without one */
export const DEFAULT_FAILURE = 'activation failed (a fault injected on demand)';

/** a failure switch: one endpoint's activation, or the next activation of a service's endpoint */
export interface FailureSwitch {
  readonly kind: 'endpoint' | 'service';
  readonly id: string;
  readonly message: string;
}

export class ProvisioningFaults {
  /** ms each activation waits before the data plane is asked (faults.provisioning_delay_ms); 0: none */
  delayMs: number;
  /** faults injected since start: activations delayed, activations failed */
  readonly injected = { delay: 0, failure: 0 };
  /** endpoint id -> the message its activation fails with */
  private readonly failEndpoint = new Map<string, string>();
  /** service id -> the message its next activation fails with (one shot) */
  private readonly failNext = new Map<string, string>();
  /** activations under way (delay, then the data plane): endpoint id -> its end */
  readonly activations = new Map<string, Promise<void>>();
  /** activations waiting out the delay: endpoint id -> wakes it now */
  private readonly waiting = new Map<string, () => void>();

  constructor(delayMs: number) {
    this.delayMs = delayMs;
  }

  /** the switches of one kind: endpoint or service id -> the message its activation fails with */
  switches(kind: FailureSwitch['kind']): Record<string, string> {
    return Object.fromEntries(kind === 'endpoint' ? this.failEndpoint : this.failNext);
  }

  /** the switches of one kind are these now; an activation waiting out the delay whose endpoint fails wakes (and fails) */
  setSwitches(kind: FailureSwitch['kind'], switches: Readonly<Record<string, string>>): void {
    const m = kind === 'endpoint' ? this.failEndpoint : this.failNext;
    m.clear();
    for (const [id, message] of Object.entries(switches)) m.set(id, message);
    if (kind === 'endpoint') for (const id of m.keys()) this.waiting.get(id)?.();
  }

  /** the switch an activation meets (the endpoint's own first), not taken: each fires once, taken with the failure it causes; null: none */
  failureOf(endpointId: string, serviceId: string): FailureSwitch | null {
    const own = this.failEndpoint.get(endpointId);
    if (own !== undefined) return { kind: 'endpoint', id: endpointId, message: own };
    const next = this.failNext.get(serviceId);
    return next === undefined ? null : { kind: 'service', id: serviceId, message: next };
  }

  /** whether a new endpoint of this service activates without a fault: no delay, no failure asked for */
  quiet(serviceId: string): boolean {
    return this.delayMs === 0 && !this.failNext.has(serviceId);
  }

  /** whether an endpoint's activation waits out the delay now (the converge loop leaves it alone) */
  isWaiting(endpointId: string): boolean {
    return this.waiting.has(endpointId);
  }

  /** waits out the delay for an endpoint; ends early on a switch of its own (setSwitches) or stop() */
  wait(endpointId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.waiting.get(endpointId) === done) this.waiting.delete(endpointId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.waiting.set(endpointId, done);
    });
  }

  /** ends every wait (shutdown): the activations go on at once */
  stop(): void {
    for (const wake of [...this.waiting.values()]) wake();
  }
}
