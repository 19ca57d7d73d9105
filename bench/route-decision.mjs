#!/usr/bin/env node
// The gateway's route decision, before and after the decide()/explain() split (issue 16):
// `node bench/route-decision.mjs --base <checkout of the build before, built>` times that build's
// decideRoute() beside this build's decide() (the data path) and explain() (the path tracer), on
// the fixture of bench/micro.mjs's case (bench/routing-fixture.mjs), in one process. Without --base: this build only.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Benchmark from 'benchmark';
import * as after from '../dist/model/routing.js';
import { commandLine } from './lib/cli.mjs';
import { routeActive, routeInput, routingInput } from './routing-fixture.mjs';

const USAGE = `usage: node bench/route-decision.mjs [--base DIR]

  --base DIR  a built checkout of the build before the decide()/explain() split (its
              dist/model/routing.js), timed beside this build; without it this build only
  -h, --help  this text`;
const line = commandLine('route-decision', USAGE, { base: { type: 'string' } });
const baseRouting = line.values.base === undefined ? null : path.resolve(line.values.base, 'dist/model/routing.js');
if (baseRouting && !fs.existsSync(baseRouting)) line.usage(`--base ${path.resolve(line.values.base)}: no dist/model/routing.js there (build that checkout first)`);
const before = baseRouting ? await import(pathToFileURL(baseRouting).href) : null;
const view = after.indexRouting(routingInput);
let sink = 0;
const options = { maxTime: 3, minSamples: 30 };
const suite = new Benchmark.Suite();
if (before) {
  // a build before the plain view: its buildRoutingView took targets as a Map
  const v = before.buildRoutingView({ ...routingInput, services: routingInput.services.map((s) => ({ ...s, targets: new Map(s.targets.map((t) => [t.port, { host: t.host, port: t.hostPort }])) })) });
  suite.add('before: decideRoute()', () => { sink ^= before.decideRoute(v, routeInput, routeActive).verdict === 'relay' ? 1 : 0; }, options);
}
suite
  .add('decide()', () => { sink ^= after.decide(view, routeInput, routeActive).refusal === null ? 1 : 0; }, options)
  .add('explain()', () => { sink ^= after.explain(view, routeInput, routeActive).reason.length; }, options)
  .on('cycle', (e) => {
    const b = e.target;
    console.log(`${b.name.padEnd(22)} ${Math.round(b.hz).toLocaleString('en-US').padStart(12)} ops/s  ±${b.stats.rme.toFixed(2)}%  ${(1e6 / b.hz).toFixed(3)} µs`);
  })
  .on('complete', () => { if (sink < 0) console.log(sink); })
  .run();
