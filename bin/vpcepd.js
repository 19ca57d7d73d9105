#!/usr/bin/env -S node --single-threaded-gc
// Signals are held from the first moment (README "Signals"): reading the bundle takes a while, and
// until a handler is installed SIGHUP, SIGTERM and SIGINT end the process with no clean-up and no
// log line. main() installs its own in the same tick as these are removed, and acts on what came.
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'];
const early = [];
const hold = (signal) => { early.push(signal); };
for (const s of SIGNALS) process.on(s, hold);
const { main } = await import('../dist/bundle/vpcepd.mjs');
for (const s of SIGNALS) process.off(s, hold);

await main(process.argv.slice(2), early);
