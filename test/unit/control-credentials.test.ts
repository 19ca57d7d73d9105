import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import { applyInventory } from '../../src/control/inventory.js';
import { validateConfig } from '../../src/model/config.js';
import { memoryStore } from '../helpers.js';

const store = memoryStore();
const dataPlane = { apply: async () => ({ ok: true as const }), endpointConnections: () => 0, admissionOf: () => null, daemonLoad: () => ({ active: 0, maxConnections: 1, fdBudget: 100, listeners: 0, onPremises: 'allow' as const }), publicListening: () => false };
const log = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('credentials', () => {
  it('an empty token is never a credential, even when an account was given an empty token', () => {
    // The embedded defaults with an empty default token: what an empty token file used to produce.
    const inventory = applyInventory(validateConfig(undefined, 'embedded'), new Map(), { defaultToken: '', source: 'embedded', now: '2026-01-01T00:00:00Z' });
    expect(inventory.accounts[0]!.token).toBe('');
    const control = new ControlPlane({ region: 'sim-1', store, dataPlane, inventory, services: [], endpoints: [], log });
    expect(control.accountByToken('')).toBeUndefined();
  });
});
