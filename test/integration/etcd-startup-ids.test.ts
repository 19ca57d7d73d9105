// Start-up ids as compare-and-swap documents (issue 17): the ids a daemon generates at its first
// start (accounts' domain, project and AWS ids, VPC ids and numbers, subnets', ports', route tables'
// and public services' ids) are written expecting the versions read, so two daemons starting at once
// on a fresh etcd with the same config end with the same ids: one wins, the other loads the winner's.
// Fails without storeInventory() (each daemon keeps the ids it generated; the last write wins on etcd).
import { expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon.js';
import { startTestDaemon } from '../helpers.js';
import { describeWithEtcd } from './etcd.js';

/** a config that leaves every id to the daemon */
function idlessConfig(store: string): Record<string, unknown> {
  return {
    region: 'sim-1',
    store,
    accounts: [{ name: 'provider', token: 'provider-secret' }, { name: 'consumer', token: 'consumer-secret' }],
    vpcs: [
      { account: 'provider', cidr: '192.168.0.0/16', subnets: [{ cidr: '192.168.24.0/24' }], ports: [{ subnet: '192.168.24.0/24', ip: '192.168.24.246', type: 'VM', target: '127.0.0.1' }] },
      { account: 'consumer', cidr: '10.0.0.0/16', subnets: [{ cidr: '10.0.1.0/24' }, { cidr: '10.0.2.0/24' }] },
    ],
    public_services: [{ name: 'kv', service_type: 'interface', ports: [{ port: 6379, target: '127.0.0.1:6379' }] }],
  };
}

/** every id the daemon generated at start, as it serves them */
function ids(d: Daemon): unknown {
  return ['provider', 'consumer'].map((name) => {
    const a = d.control.accountByName(name)!;
    return {
      account: [a.name, a.domain_id, a.project_id, a.aws_account_id],
      vpcs: d.control.vpcs(a).map((v) => [v.id, v.number, v.subnets.map((s) => s.id), v.ports.map((p) => p.id), v.route_tables.map((t) => t.id)]),
      public: d.control.publicServices().map((s) => [s.service_name, s.id]),
    };
  });
}

describeWithEtcd('start-up ids on etcd', (etcd) => {
  it('two daemons starting at once with the same config end with the same ids (a few rounds, each on a fresh prefix)', async () => {
    for (let round = 1; round <= 3; round++) {
      const config = idlessConfig(`${etcd.url}/ids${round}`);
      const [a, b] = await Promise.all([startTestDaemon(config), startTestDaemon(config)]);
      try {
        const [x, y] = [ids(a.daemon), ids(b.daemon)];
        expect(JSON.stringify(x)).toMatch(/[0-9a-f]{32}/);
        expect(y, `round ${round}`).toEqual(x);
        // and a daemon started later on the same prefix keeps them too
        const c = await startTestDaemon(config);
        try {
          expect(ids(c.daemon), `round ${round}, a third daemon`).toEqual(x);
        } finally {
          await c.stop();
        }
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    }
  }, 60_000);
});
