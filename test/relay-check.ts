// After each test file (vitest.config.ts setupFiles; the files of a group share one worker and so
// one native relay, isolate: false): the relay's threads all turn their loops, and no connection
// is left in the relay. One CI run found 1,571 connections left for the rest of the run and one
// thread's hand-overs timing out, with nothing naming the thread: a stuck or dead thread now fails
// the file that left it so, with every thread's state; connections left by healthy threads are
// reported (their closes were lost on the way to TypeScript, or a test left its sockets open).
import { afterAll } from 'vitest';
import { STUCK_THREAD_MS, startedNativeRelay, type RelayThreadState } from '../src/dataplane/native-relay.js';

/** how long the file's connections may take to leave the relay after its own clean-up */
const SETTLE_MS = 10_000;

const describeThreads = (threads: readonly RelayThreadState[]) => threads
  .map((t, i) => `thread ${i}: ${t.connections} connections, ${t.handedOver} handed over, ${t.dead ? 'dead' : `a command waiting ${Math.round(t.waitedMs)} ms`}`)
  .join('; ');

afterAll(async () => {
  const relay = startedNativeRelay();
  if (relay === null) return;
  const start = Date.now();
  // A call that finds no command waiting posts a no-op: the next call finding none waiting again
  // proves the thread took it, i.e. turned its loop (milliseconds for one that works).
  let before = relay.threadStates();
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const threads = relay.threadStates();
    if (threads.some((t) => t.dead || t.waitedMs > STUCK_THREAD_MS)) {
      throw new Error(`a native relay thread is stuck or dead after this file (${relay.size} connections in the relay): ${describeThreads(threads)}`);
    }
    const answering = threads.every((t, i) => t.waitedMs === 0 && before[i]!.waitedMs === 0);
    before = threads;
    const left = relay.size;
    if (left === 0 && answering) return;
    if (Date.now() - start > SETTLE_MS) {
      console.warn(`relay-check: ${left} connections left in the native relay ${SETTLE_MS / 1000} s after this file, its threads answering: ${describeThreads(threads)}`);
      return;
    }
  }
}, SETTLE_MS + STUCK_THREAD_MS + 5_000);
