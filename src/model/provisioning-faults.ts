// Provisioning faults (issue 15): what Terraform's and operators' waiters and retries never meet
// when an activation takes 5 ms. A delay before an endpoint's activation turns it accepted (AWS
// `pending` -> `available`), and failures on demand: one endpoint's activation, or the next
// activation of a service. The switches are held in memory only (a restart forgets them); the
// delay is the config's until PUT /sim/faults, which is stored (control/provisioning-faults.ts).

/** the message of a failure asked for without one */
export const DEFAULT_FAILURE = 'activation failed (a fault injected on demand)';

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

  /** the endpoint's activation fails (now when it waits out the delay, else when it comes) */
  failActivation(endpointId: string, message: string): void {
    this.failEndpoint.set(endpointId, message);
    this.waiting.get(endpointId)?.();
  }

  /** the next activation of an endpoint of this service fails */
  failNextActivation(serviceId: string, message: string): void {
    this.failNext.set(serviceId, message);
  }

  /** the services whose next activation fails */
  get failingServices(): string[] {
    return [...this.failNext.keys()];
  }

  /** the failure an activation meets, taken (each switch fires once); null: none */
  takeFailure(endpointId: string, serviceId: string): string | null {
    const own = this.failEndpoint.get(endpointId);
    if (own !== undefined) {
      this.failEndpoint.delete(endpointId);
      return own;
    }
    const next = this.failNext.get(serviceId);
    if (next !== undefined) this.failNext.delete(serviceId);
    return next ?? null;
  }

  /** whether a new endpoint of this service activates without a fault: no delay, no failure asked for */
  quiet(serviceId: string): boolean {
    return this.delayMs === 0 && !this.failNext.has(serviceId);
  }

  /** whether an endpoint's activation waits out the delay now (the converge loop leaves it alone) */
  isWaiting(endpointId: string): boolean {
    return this.waiting.has(endpointId);
  }

  /** waits out the delay for an endpoint; ends early on failActivation() or stop() */
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

  /** a pending switch of a deleted endpoint is dropped */
  forget(endpointId: string): void {
    this.failEndpoint.delete(endpointId);
  }
}
