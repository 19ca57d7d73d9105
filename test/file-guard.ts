// Run after each test file (vitest.config.ts setupFiles). A group's files share one worker process
// (isolate: false), and so one native relay: what a file leaves behind meets the next ones. One CI
// run found 1,571 connections left in the relay for the rest of the run and one thread's
// hand-overs timing out, with nothing naming the file or the thread. After each file this:
// - stops the daemons the file left running, and fails it, naming them (one held its host
//   addresses and relay connections under the next files);
// - fails the file that leaves a relay thread stuck (a no-op unanswered for 5 s) or dead, with
//   every thread's state;
// - fails the file that leaves connections in the relay once its daemons are stopped (their
//   closes lost on the way to TypeScript, or a test's sockets left open), once: the next files
//   fail for their own only;
// - removes the temporary dirs the file made with tempDir() (VPCEP_KEEP_TEST_DIRS=1 keeps them).
import { afterAll } from 'vitest';
import { STUCK_THREAD_MS, startedNativeRelay, type NativeRelay, type RelayThreadState } from '../src/dataplane/native-relay.js';
import { removeTempDirs, stopLeftDaemons } from './helpers.js';

/** how long the file's connections may take to leave the relay after its daemons stopped */
const SETTLE_MS = 10_000;

/** connections an earlier file left in the relay, reported there */
let reported = 0;

const describeThreads = (threads: readonly RelayThreadState[]) => threads
  .map((t, i) => `thread ${i}: ${t.connections} connections, ${t.handedOver} handed over, ${t.dead ? 'dead' : `a command waiting ${Math.round(t.waitedMs)} ms`}`)
  .join('; ');

/** what is wrong with the relay after the file: "" when nothing */
async function relayProblems(relay: NativeRelay): Promise<string> {
  const start = Date.now();
  // A call that finds no command waiting posts a no-op: the next call finding none waiting again
  // proves the thread took it, i.e. turned its loop (milliseconds for one that works).
  let before = relay.threadStates();
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const threads = relay.threadStates();
    if (threads.some((t) => t.dead || t.waitedMs > STUCK_THREAD_MS)) {
      return `left a native relay thread stuck or dead (${relay.size} connections in the relay): ${describeThreads(threads)}`;
    }
    const answering = threads.every((t, i) => t.waitedMs === 0 && before[i]!.waitedMs === 0);
    before = threads;
    const open = relay.size;
    if (open <= reported && answering) return '';
    if (Date.now() - start > SETTLE_MS) {
      if (open <= reported) return '';
      const left = open - reported;
      reported = open;
      return `left ${left} connections in the native relay ${SETTLE_MS / 1000} s after its daemons stopped, its threads answering: ${describeThreads(threads)}`;
    }
  }
}

afterAll(async () => {
  const left = await stopLeftDaemons();
  const relay = startedNativeRelay();
  const problems = [
    ...(left ? [`left running: ${left} (stopped now)`] : []),
    ...(relay ? [await relayProblems(relay)].filter(Boolean) : []),
  ];
  // after its daemons and etcd are stopped (a describe block's afterAll runs before this one)
  removeTempDirs();
  if (problems.length) throw new Error(`this file ${problems.join('; ')}`);
}, 60_000 + SETTLE_MS + STUCK_THREAD_MS);
