#!/usr/bin/env node
// Load benchmarks of the data plane, side by side with HAProxy and a direct connection:
// `npm run bench:load` (add `-- --smoke` for a run of under a minute, as CI would).
//
// Starts everything itself on loopback (backends, vpcepd as a child process with a temporary
// data dir, HAProxy), runs each scenario on every path, interleaved (vpcep, haproxy, direct,
// vpcep, ...) for --rounds rounds, prints a table of medians with the ratios vpcep/haproxy and
// vpcep/direct (each the median of the per-round ratios), writes everything as JSON under
// bench/results/, and stops every process it started, also on Ctrl-C or an error. Exits 1 when a
// scenario fails (the storm not admitting exactly 3,000, errors under load, ...), 2 on bad usage
// or a missing prerequisite.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { commandLine } from './lib/cli.mjs';
import { describeMachine, extendPath, missingTools } from './lib/machine.mjs';
import { aborting, atExit, installHandlers, running, stopAll } from './lib/procs.mjs';
import { benchDir, rootDir } from './lib/paths.mjs';
import { aggregate, median, table } from './lib/stats.mjs';
import { startWorld } from './lib/world.mjs';
import { daemonEntry } from './lib/vpcep.mjs';
import { cpuBetween, cpuSnapshot, processCpuSeconds, processSwitches } from './lib/cpu.mjs';
import { HAPROXY_MAXCONN, HAPROXY_NBTHREAD } from './lib/haproxy.mjs';
import bulk from './lib/scenarios/bulk.mjs';
import rate from './lib/scenarios/rate.mjs';
import latency from './lib/scenarios/latency.mjs';
import concurrency from './lib/scenarios/concurrency.mjs';
import storm from './lib/scenarios/storm.mjs';
import apiAbuse from './lib/scenarios/api-abuse.mjs';
import scale from './lib/scenarios/scale.mjs';
import shaping from './lib/scenarios/shaping.mjs';

const SCENARIOS = { bulk, rate, latency, concurrency, storm, 'api-abuse': apiAbuse, scale, shaping };
/** every failure of the run: a scenario that failed, an error at set-up, a process left behind */
const failures = [];
/** this run's temporary directory */
let dir = null;
const NGINX_WORKERS = 1;

const USAGE = `usage: npm run bench:load -- [--smoke] [--duration SECONDS] [--rounds N] [--scenarios a,b,c] [--snat MODE] [--relay RELAY] [--socket-buffer BYTES] [--endpoints N] [--scale-root DIR]

  --duration SECONDS  length of each timed run (bulk, rate, latency); default 5 (smoke: 1)
  --rounds N          rounds of every scenario on every path, interleaved; default 3 (smoke: 1)
  --scenarios LIST    any of ${Object.keys(SCENARIOS).join(',')}; default all
  --snat MODE         vpcepd's dataplane.snat: auto, kernel or logical; default auto
  --relay RELAY       vpcepd's relay (VPCEP_RELAY): js, native or auto; default auto
  --socket-buffer B   vpcepd's dataplane.socket_buffer_bytes (0: the kernel autotunes); default: vpcepd's
  --endpoints N       endpoints of the scale scenario (HAProxy: frontends); default 1000 (smoke: 100)
  --scale-root DIR    the scale scenario's vpcepd from another built checkout (its dist/ and addon): a build before
  --smoke             every scenario briefly (1 round, short runs, 1 endpoint x 3,000 held,
                      100 endpoints in scale): about 50 seconds
  -h, --help          this text`;

let usage;

function options() {
  const line = commandLine('bench:load', USAGE, {
    duration: { type: 'string' },
    rounds: { type: 'string' },
    scenarios: { type: 'string' },
    snat: { type: 'string' },
    relay: { type: 'string' },
    'socket-buffer': { type: 'string' },
    endpoints: { type: 'string' },
    'scale-root': { type: 'string' },
    smoke: { type: 'boolean', default: false },
  });
  const v = line.values;
  usage = line.usage;
  const duration = v.duration === undefined ? (v.smoke ? 1 : 5) : Number(v.duration);
  if (!Number.isFinite(duration) || duration < 1 || duration > 600) usage('--duration must be a number of seconds from 1 to 600');
  const rounds = v.rounds === undefined ? (v.smoke ? 1 : 3) : Number(v.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) usage('--rounds must be an integer from 1 to 50');
  const names = v.scenarios === undefined ? Object.keys(SCENARIOS) : v.scenarios.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!SCENARIOS[n]) usage(`unknown scenario "${n}" (known: ${Object.keys(SCENARIOS).join(', ')})`);
  if (!names.length) usage('--scenarios names none');
  const snat = v.snat ?? 'auto';
  if (!['auto', 'kernel', 'logical'].includes(snat)) usage('--snat must be auto, kernel or logical');
  const relay = v.relay ?? 'auto';
  if (!['js', 'native', 'auto'].includes(relay)) usage('--relay must be js, native or auto');
  const socketBuffer = v['socket-buffer'] === undefined ? undefined : Number(v['socket-buffer']);
  if (socketBuffer !== undefined && !(Number.isInteger(socketBuffer) && socketBuffer >= 0)) usage('--socket-buffer must be a number of bytes (0: the kernel autotunes)');
  const scaleEndpoints = v.endpoints === undefined ? (v.smoke ? 100 : 1000) : Number(v.endpoints);
  if (!Number.isInteger(scaleEndpoints) || scaleEndpoints < 2 || scaleEndpoints > 8000) usage('--endpoints must be an integer from 2 to 8000');
  const scaleRoot = v['scale-root'] === undefined ? rootDir : path.resolve(v['scale-root']);
  if (v['scale-root'] !== undefined && !fs.existsSync(daemonEntry(scaleRoot))) usage(`--scale-root: ${scaleRoot} has no ${path.relative(scaleRoot, daemonEntry(scaleRoot))} (build it)`);
  return { duration, rounds, scenarios: [...new Set(names)], snat, relay, socketBuffer, scaleEndpoints, scaleRoot, smoke: v.smoke };
}

/** the prerequisites: the compiled daemon and the tools (installed when missing and this is root) */
function prerequisites() {
  if (!fs.existsSync(daemonEntry())) {
    process.stderr.write(`bench:load: ${path.relative(rootDir, daemonEntry())} is missing: run \`npm run build\` (or \`npm install\`) first\n`);
    process.exit(2);
  }
  extendPath();
  let missing = missingTools();
  if (!missing.length) return;
  const script = path.join(rootDir, 'scripts/install-bench-tools.sh');
  if (process.getuid?.() !== 0) {
    process.stderr.write(`bench:load: missing ${missing.join(', ')}: install them with \`sudo ${path.relative(process.cwd(), script)}\` (apt-get), then run again\n`);
    process.exit(2);
  }
  process.stdout.write(`bench:load: missing ${missing.join(', ')}: running ${path.relative(process.cwd(), script)}\n`);
  const r = spawnSync('bash', [script], { stdio: 'inherit' });
  missing = missingTools();
  if (r.status !== 0 || missing.length) {
    process.stderr.write(`bench:load: ${path.basename(script)} failed; still missing: ${missing.join(', ') || 'none'}\n`);
    process.exit(2);
  }
}

/** refusals by vpcepd during a run, by reason (the storm's refusals for the cap are its point) */
function refusalDelta(scenario, before, after) {
  const out = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before?.[k] ?? 0);
    if (d > 0 && !(scenario === 'storm' && k === 'cap')) out[k] = d;
  }
  return out;
}

function refusalNote(scenario, before, after) {
  const d = refusalDelta(scenario, before, after);
  if (!Object.keys(d).length) return '';
  const snat = d.snat_exhausted ? ' (snat_exhausted: in kernel SNAT mode another vpcepd on this host, e.g. a test run, may hold the same SNAT addresses and ports; rerun when it is done, or with --snat logical)' : '';
  return `; vpcepd refused connections: ${JSON.stringify(d)}${snat}`;
}

/** a run during which vpcepd refused connections has not measured what it meant to */
function checkRefusals(scenario, before, after) {
  const note = refusalNote(scenario, before, after);
  if (note) throw new Error(note.slice(2));
}

/**
 * Runs `runAll` (one or more paths' runs, resolving to {path: {figures, detail}}) with the CPU
 * used meanwhile (the machine's over the whole call, each relay's own process) and, when vpcep is
 * among the paths, a check that the daemon refused nothing it should not have.
 */
async function measureAll(env, name, paths, runAll) {
  const pidOf = (p) => (p === 'vpcep' ? env.vpcep.pid : p === 'haproxy' ? env.haproxy.proc.child.pid : null);
  const pids = Object.fromEntries(paths.map((p) => [p, pidOf(p)]));
  const relay0 = Object.fromEntries(paths.map((p) => [p, pids[p] ? processCpuSeconds(pids[p]) : null]));
  const switches0 = Object.fromEntries(paths.map((p) => [p, pids[p] ? processSwitches(pids[p]) : null]));
  const withVpcep = paths.includes('vpcep');
  const refused0 = withVpcep ? await env.vpcep.refusals() : null;
  const cpu0 = cpuSnapshot();
  try {
    const byPath = await runAll();
    const cpu = cpuBetween(cpu0, cpuSnapshot());
    if (withVpcep) checkRefusals(name, refused0, await env.vpcep.refusals());
    const seconds = (performance.now() - cpu0.at) / 1000;
    // a run that restarted the relay (concurrency) has no CPU figure for it
    const relayCpu = (p) => (pids[p] && pidOf(p) === pids[p] ? processCpuSeconds(pids[p]) - relay0[p] : null);
    // the relay's context switches over the run: its first thread (vpcepd's JS thread) and the rest
    const relaySwitches = (p) => {
      const now = pids[p] && pidOf(p) === pids[p] ? processSwitches(pids[p]) : null;
      return now && switches0[p] ? { main: now.main - switches0[p].main, others: now.others - switches0[p].others } : null;
    };
    return Object.fromEntries(paths.map((p) => [p, {
      figures: byPath[p].figures, detail: byPath[p].detail, seconds, cpu: { ...cpu, relay_cpu_seconds: relayCpu(p), relay_switches: relaySwitches(p) },
    }]));
  } catch (err) {
    let message = err.message;
    if (withVpcep && !message.includes('vpcepd refused')) message += await env.vpcep.refusals().then((r1) => refusalNote(name, refused0, r1), () => '');
    return Object.fromEntries(paths.map((p) => [p, { error: message }]));
  }
}

/** one run of a scenario on one path */
async function measure(env, name, scenario, p) {
  return (await measureAll(env, name, [p], async () => ({ [p]: await scenario.run(env, p) })))[p];
}

/** one round of a scenario that measures every path in one go (interleaved inside the round) */
function measureRound(env, name, scenario) {
  return measureAll(env, name, scenario.paths, () => scenario.runRound(env, scenario.paths));
}

const say = (s) => process.stdout.write(`${s}\n`);
const fmtFigures = (f) => Object.entries(f).map(([k, v]) => `${k}=${v === null ? '—' : Number.isInteger(v) ? v : v.toFixed(2)}`).join(' ');

async function main() {
  const opts = options();
  installHandlers('bench:load');
  prerequisites();
  const started = Date.now();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-bench-load-'));
  // the temporary directory (configs, logs, the daemon's store) goes, unless something failed
  atExit(() => { if (!failures.length) fs.rmSync(dir, { recursive: true, force: true }); });

  const machine = describeMachine();
  say(`bench:load ${opts.smoke ? '(smoke) ' : ''}— ${opts.scenarios.join(', ')}; ${opts.rounds} round${opts.rounds > 1 ? 's' : ''}, ${opts.duration} s per timed run`);
  say(`machine: ${machine.cores} cores ${machine.cpu_model}, ${machine.memory_gib} GiB, ${machine.kernel}, node ${machine.node}, load ${machine.loadavg_at_start.join(' ')}`);

  const endpoints = opts.scenarios.includes('concurrency') && !opts.smoke ? 3 : 1;
  const env = await startWorld({ dir, snat: opts.snat, relay: opts.relay, socketBuffer: opts.socketBuffer, endpoints, nginxWorkers: NGINX_WORKERS, log: (s) => say(`  ${s}`) });
  env.opts = opts;
  env.scaleEndpoints = opts.scaleEndpoints;

  const results = [];
  for (const name of opts.scenarios) {
    if (aborting()) break;
    const s = SCENARIOS[name];
    say(`\n== ${typeof s.title === 'function' ? s.title(env) : s.title}`);
    const runs = [];
    try {
      await s.setup?.(env);
      await s.warmup?.(env);
      for (let round = 1; round <= opts.rounds && !aborting(); round++) {
        const together = s.runRound ? await measureRound(env, name, s) : null;
        for (const p of s.paths) {
          if (aborting()) break;
          const run = together ? together[p] : await measure(env, name, s, p);
          if (aborting()) break;
          runs.push({ round, path: p, ...run });
          if (run.error) {
            failures.push(`${name} round ${round} ${p}: ${run.error}`);
            say(`  round ${round} ${p.padEnd(7)} FAILED: ${run.error}`);
          } else {
            const bg = (run.cpu.background_cores >= 0.1 ? `, background load ${run.cpu.background_cores} cores` : '') + (run.cpu.steal_cores >= 0.1 ? `, steal ${run.cpu.steal_cores} cores` : '');
            // per connection, where the run counts its connections (rate: one request each)
            const conns = name === 'rate' ? run.detail?.requests : undefined;
            const sw = run.cpu.relay_switches;
            const perConn = conns && sw ? `, ${((sw.main + sw.others) / conns).toFixed(2)} switches/conn (first thread ${(sw.main / conns).toFixed(2)}), ${(run.cpu.relay_cpu_seconds / conns * 1e6).toFixed(0)} µs CPU/conn` : '';
            const relay = run.cpu.relay_cpu_seconds === null ? '' : `, relay CPU ${run.cpu.relay_cpu_seconds.toFixed(2)} s${perConn}`;
            // latency: the slices of the path's recorded time where 5+ requests took over 1 ms
            const stalls = run.detail?.stall_slices === undefined ? '' : `, stalls in ${run.detail.stall_slices} of ${run.detail.slices} slices`;
            say(`  round ${round} ${p.padEnd(7)} ${fmtFigures(run.figures)}  (${run.seconds.toFixed(1)} s${relay}${stalls}${bg})`);
          }
        }
      }
    } catch (err) {
      if (aborting()) break;
      failures.push(`${name}: ${err.message}`);
      say(`  FAILED: ${err.message}`);
    } finally {
      await s.teardown?.().catch(() => undefined);
    }
    const pooled = s.pooled?.() ?? null;
    results.push({ name, title: typeof s.title === 'function' ? s.title(env) : s.title, paths: s.paths, runs, figures: aggregate(s, runs), ...(pooled ? { pooled } : {}) });
  }

  // Ctrl-C or SIGTERM: the handler stops every process and exits; report nothing half-done
  if (aborting()) await new Promise(() => undefined);

  say(`\n## vpcep-sim load benchmark${opts.smoke ? ' (smoke)' : ''}: medians of ${opts.rounds} round${opts.rounds > 1 ? 's' : ''}; ratios are the median of the per-round ratios\n`);
  say(table(results.map((r) => [r.name, r.figures])));
  const notes = [
    `vpcep: VPCEP_RELAY=${opts.relay} (vpcep_dataplane_info says relay="${env.dataPlane.relay}"), SNAT mode ${env.dataPlane.snat_mode}; one endpoint per path except concurrency (${endpoints} endpoint${endpoints > 1 ? 's' : ''} x 3,000)`,
    `haproxy: ${machine.haproxy.replace(/ - https.*/, '')}, mode tcp, option splice-request + splice-response, nbthread ${HAPROXY_NBTHREAD} (set explicitly), maxconn ${HAPROXY_MAXCONN}`,
    `direct: the client straight to the backend; backends: ${machine.iperf3.split(' (')[0]}, nginx ${machine.nginx.replace(/.*nginx\//, '')} (${NGINX_WORKERS} worker, return 200, ${env.backends.nginx.responseBytes}-byte response), a Node hold server`,
    `machine: ${machine.cores} cores (${machine.cpu_model}), ${machine.memory_gib} GiB, ${machine.kernel}, node ${machine.node}, ${machine.wrk.split(' [')[0]}, open files ${machine.open_files?.soft}/${machine.open_files?.hard}; every process shares the same cores`,
  ];
  for (const r of results) if (r.pooled) notes.push(r.pooled.note);
  const background = results.flatMap((r) => r.runs.map((x) => x.cpu?.background_cores)).filter((x) => typeof x === 'number');
  if (background.length) {
    const worst = Math.max(...background);
    notes.push(`background load (CPU used by other processes on the machine during the runs): median ${median(background).toFixed(2)}, worst ${worst.toFixed(2)} cores of ${machine.cores}${worst >= 0.25 ? ' — some runs shared the machine with other work: their figures are noisier' : ''}`);
  }
  const steal = results.flatMap((r) => r.runs.map((x) => x.cpu?.steal_cores)).filter((x) => typeof x === 'number');
  if (steal.length) {
    const worst = Math.max(...steal);
    notes.push(`steal (CPU the hypervisor gave to other machines during the runs): median ${median(steal).toFixed(2)}, worst ${worst.toFixed(2)} cores of ${machine.cores}${worst >= 0.25 ? ' — some runs lost part of the machine: their absolute figures are off, the ratios of interleaved paths less so' : ''}`);
  }
  for (const n of notes) say(`- ${n}`);

  await stopAll();
  const leftovers = running();
  if (leftovers.length) failures.push(`processes still running after the stop: ${JSON.stringify(leftovers)}`);

  const seconds = (Date.now() - started) / 1000;
  const out = path.join(benchDir, 'results');
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, `load-${new Date().toISOString().replace(/[:.]/g, '-')}${opts.smoke ? '-smoke' : ''}.json`);
  fs.writeFileSync(file, JSON.stringify({
    when: new Date().toISOString(),
    command: `npm run bench:load -- ${process.argv.slice(2).join(' ')}`.trim(),
    options: opts,
    wall_seconds: Math.round(seconds * 10) / 10,
    machine: { ...machine, loadavg_at_end: os.loadavg().map((x) => Math.round(x * 100) / 100) },
    setup: {
      vpcep: { ...env.dataPlane, relay_requested: opts.relay, endpoints: env.endpoints.map((e) => ({ id: e.id, host_ip: e.host_ip, snat_ip: e.snat_ip })), connections_per_endpoint: 3000 },
      haproxy: { nbthread: HAPROXY_NBTHREAD, maxconn: HAPROXY_MAXCONN, splice: ['request', 'response'], mode: 'tcp' },
      nginx: { workers: NGINX_WORKERS, response_bytes: env.backends.nginx.responseBytes },
      ports: env.ports,
    },
    ratios: 'median of the per-round ratios vpcep/other',
    scenarios: results,
    failures,
  }, null, 2));
  say(`\nwritten ${path.relative(process.cwd(), file)} (${seconds.toFixed(1)} s)`);
  if (failures.length) {
    say(`\nFAILED (${failures.length}):`);
    for (const f of failures) say(`  - ${f}`);
    say(`logs and configs kept in ${dir}`);
  }
  process.exit(failures.length ? 1 : 0);
}

main().catch(async (err) => {
  // after Ctrl-C or SIGTERM the error is the teardown's doing: the teardown reports and exits
  if (aborting()) return;
  failures.push(err.message);
  process.stderr.write(`bench:load: ${err.stack ?? err.message}\n`);
  await stopAll();
  if (dir) process.stderr.write(`logs and configs kept in ${dir}\n`);
  process.exit(1);
});
