// Run before each test file (vitest.config.ts setupFiles). A group's files share one process
// (isolate: false), so what a file leaves behind meets the next ones: a daemon left running keeps
// its host addresses and its connections in the native relay. After each file, this stops what
// was left and fails that file, naming it, so that the failure is reported where it was made.
import { afterAll } from 'vitest';
import { loadedNativeRelay } from '../src/dataplane/native-relay.js';
import { stopLeftDaemons } from './helpers.js';

/** connections an earlier file left in the native relay, reported there: a file fails for its own */
let reported = 0;

afterAll(async () => {
  const left = await stopLeftDaemons();
  // the relay's connections close as their daemons' data planes do, within moments
  const relay = loadedNativeRelay();
  const until = Date.now() + 5_000;
  while (relay !== null && relay.size > reported && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  const open = relay?.size ?? 0;
  const problems = [
    ...(left ? [`left running: ${left} (stopped now)`] : []),
    ...(open > reported ? [`left ${open - reported} connections open in the native relay 5 s after every daemon stopped`] : []),
  ];
  reported = Math.max(reported, open);
  if (problems.length) throw new Error(`this file ${problems.join('; ')}`);
}, 60_000);
