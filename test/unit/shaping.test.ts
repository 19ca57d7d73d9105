// Bandwidth and provisioning faults without sockets: the range and what a connection gets
// (src/model/bandwidth.ts), the fault switches (src/model/provisioning-faults.ts).
import { describe, expect, it } from 'vitest';
import { bandwidthOf, bytesPerSecond, checkBandwidth } from '../../src/model/bandwidth.js';
import { DomainError } from '../../src/model/errors.js';
import { ProvisioningFaults } from '../../src/model/provisioning-faults.js';
import type { Endpoint, EndpointService } from '../../src/model/types.js';

describe('bandwidth per endpoint connection', () => {
  it('takes Alibaba\'s 100-10,240 Mbit/s, integers only, and names the field otherwise', () => {
    expect(checkBandwidth('bandwidth', 100)).toBe(100);
    expect(checkBandwidth('bandwidth', 10_240)).toBe(10_240);
    for (const bad of [99, 10_241, 100.5, 0, -100, Number.NaN]) {
      expect(() => checkBandwidth('bandwidth', bad), String(bad)).toThrow(DomainError);
      expect(() => checkBandwidth('bandwidth', bad)).toThrow(/^bandwidth: must be an integer from 100 to 10240/);
    }
  });

  it('a connection gets its own limit, else its service\'s default, else none; Mbit/s are 10^6 bits', () => {
    const e = { service_id: 's' } as Endpoint;
    const s = { id: 's' } as EndpointService;
    expect(bandwidthOf(e, s)).toBeNull();
    expect(bandwidthOf(e, { ...s, bandwidth_mbps: 200 })).toBe(200);
    expect(bandwidthOf({ ...e, bandwidth_mbps: 300 }, { ...s, bandwidth_mbps: 200 })).toBe(300);
    expect(bandwidthOf({ ...e, bandwidth_mbps: 300 }, undefined)).toBe(300);
    expect(bytesPerSecond(100)).toBe(12_500_000);
    expect(bytesPerSecond(null)).toBe(0);
    expect(bytesPerSecond(undefined)).toBe(0);
  });
});

describe('provisioning faults', () => {
  it('an endpoint\'s own switch wins over its service\'s; the switches are what was set, and a copy is given out', () => {
    const f = new ProvisioningFaults(0);
    f.setSwitches('service', { svc: 'next' });
    f.setSwitches('endpoint', { ep1: 'own' });
    expect(f.switches('service')).toEqual({ svc: 'next' });
    expect(f.failureOf('ep1', 'svc')).toEqual({ kind: 'endpoint', id: 'ep1', message: 'own' });
    expect(f.failureOf('ep2', 'svc')).toEqual({ kind: 'service', id: 'svc', message: 'next' });
    expect(f.failureOf('ep3', 'other')).toBeNull();
    f.switches('endpoint').ep9 = 'x';
    expect(f.failureOf('ep9', 'other')).toBeNull();
    // taken (the control plane stores them without it)
    f.setSwitches('service', {});
    expect(f.failureOf('ep2', 'svc')).toBeNull();
  });

  it('a wait ends early when its endpoint is failed or at stop(), and says who waits meanwhile', async () => {
    const f = new ProvisioningFaults(60_000);
    const a = f.wait('a', 60_000);
    const b = f.wait('b', 60_000);
    expect(f.isWaiting('a') && f.isWaiting('b')).toBe(true);
    f.setSwitches('endpoint', { a: 'boom' });
    await a;
    expect(f.isWaiting('a')).toBe(false);
    expect(f.isWaiting('b')).toBe(true);
    f.stop();
    await b;
    expect(f.isWaiting('b')).toBe(false);
    expect(f.failureOf('a', 's')?.message).toBe('boom');
  });
});
