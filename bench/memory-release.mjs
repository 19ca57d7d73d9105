#!/usr/bin/env node
// What one release of the daemon's memory costs (src/memory-release.ts, native/relay.cc
// releaseMemory): `node bench/memory-release.mjs [--live-mib 115] [--rounds 3]` builds a live heap
// of about that size plus a burst of garbage, then times the addon's releaseMemory() call (how long
// it holds the event loop, and its CPU) and the process's CPU over the next 2 s (the incremental GC
// it starts, its helper threads included), with the RSS before and after.
import { createRequire } from 'node:module';
import path from 'node:path';
import { commandLine } from './lib/cli.mjs';
import { rootDir } from './lib/paths.mjs';
import { sleep } from './lib/procs.mjs';

const USAGE = `usage: node bench/memory-release.mjs [--live-mib MIB] [--rounds N]

  --live-mib MIB  the live heap built first, about; default 115
  --rounds N      releases timed; default 3
  -h, --help      this text`;
const line = commandLine('memory-release', USAGE, { 'live-mib': { type: 'string' }, rounds: { type: 'string' } });
const liveMiB = line.number('live-mib', 115, 1, 4096);
const rounds = line.int('rounds', 3, 1, 100);
const addon = createRequire(import.meta.url)(path.join(rootDir, 'build/Release/vpcep_relay.node'));
const rssMiB = () => process.memoryUsage.rss() / 1048576;

// about 300 bytes of live heap per entry (an object, its text and a one-entry Map): the size is approximate
const live = [];
for (let i = 0; i < (liveMiB * 1048576) / 300; i++) live.push({ i, s: `endpoint-${i}`, m: new Map([[i, i]]) });
for (let round = 1; round <= rounds; round++) {
  let garbage = [];
  for (let i = 0; i < 2e6; i++) {
    garbage.push({ a: i });
    if (garbage.length > 1e5) garbage = [];
  }
  garbage = null;
  await sleep(1000);
  const before = rssMiB();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  addon.releaseMemory();
  const callMs = performance.now() - t0;
  const callCpu = process.cpuUsage(cpu0);
  const after0 = process.cpuUsage();
  await sleep(2000);
  const after = process.cpuUsage(after0);
  console.log(`round ${round}: live heap ${(process.memoryUsage().heapUsed / 1048576).toFixed(0)} MiB (${live.length} objects); the call ${callMs.toFixed(1)} ms (${((callCpu.user + callCpu.system) / 1000).toFixed(1)} ms CPU); the next 2 s ${((after.user + after.system) / 1000).toFixed(0)} ms CPU; RSS ${before.toFixed(1)} -> ${rssMiB().toFixed(1)} MiB`);
}
