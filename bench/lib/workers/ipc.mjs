// The worker side of bench/lib/procs.mjs startWorker: answers each {id, op, ...} with
// {id, ...answer} (or {id, error}) from `ops[op]`, says it is ready, and exits when its parent
// goes (the IPC channel closes) or on SIGTERM.
export function serveOps(ops) {
  process.on('message', async (m) => {
    try {
      const op = ops[m.op];
      if (!op) throw new Error(`unknown op ${m.op}`);
      process.send({ id: m.id, ...(await op(m)) });
    } catch (err) {
      process.send({ id: m.id, error: err.message });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  process.send({ ready: true });
}
