// Whether a process id names a live process (signal 0: no signal sent, the check only): the users
// of the SNAT route (src/dataplane/snat-mode.ts) and the holder of a data dir (src/config/data-dir.ts).

/** true when PID is a live process, ours to signal or not (EPERM: it lives, another user's) */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
