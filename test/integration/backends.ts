// Small backend servers for data-plane tests: a generic TCP server that counts and tracks its
// connections, and three handlers (echo, hashing sink, hold). Each server closes its own sockets.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import net, { type Server, type Socket } from 'node:net';
import { waitFor } from '../helpers.js';

export interface TestBackend {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /** connections open now */
  readonly open: number;
  /** connections accepted so far */
  readonly accepted: number;
  /** the remote address of every accepted connection, in order */
  readonly remotes: string[];
  /** destroys every connection and closes the listener */
  close(): Promise<void>;
}

export interface BackendOptions {
  readonly host?: string;
  /** a fixed port; default: a random one in 20000-32767 (below Linux's ephemeral range), retried on EADDRINUSE */
  readonly port?: number;
  readonly backlog?: number;
  readonly allowHalfOpen?: boolean;
}

/** a random port in 20000-32767: below the ephemeral range, so no outgoing socket holds it */
export function randomPort(): number {
  return 20_000 + Math.floor(Math.random() * 12_768);
}

export async function startBackend(handler: (socket: Socket) => void, o: BackendOptions = {}): Promise<TestBackend> {
  const host = o.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const remotes: string[] = [];
  let accepted = 0;
  const server = net.createServer({ allowHalfOpen: o.allowHalfOpen ?? false }, (socket) => {
    accepted++;
    remotes.push(socket.remoteAddress ?? '');
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    handler(socket);
  });
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = o.port ?? randomPort();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port, backlog: o.backlog ?? 4096, exclusive: true }, () => {
          server.removeListener('error', reject);
          resolve();
        });
      });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || o.port !== undefined || attempt > 20) throw err;
    }
  }
  return {
    server,
    host,
    port,
    get open() { return sockets.size; },
    get accepted() { return accepted; },
    remotes,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    }),
  };
}

/** writes back whatever it reads */
export function echo(socket: Socket): void {
  socket.pipe(socket);
}

/** reads and discards, holding the connection open until the peer closes it */
export function hold(socket: Socket): void {
  socket.resume();
}

/**
 * Hashes (sha256) everything it reads; when the peer half-closes, writes back the hex digest and
 * closes. Use with allowHalfOpen: true.
 */
export function hashSink(socket: Socket): void {
  const h = createHash('sha256');
  socket.on('data', (b: Buffer) => h.update(b));
  socket.on('end', () => socket.end(h.digest('hex')));
}

/** one short connection to an echo backend (or through an endpoint to one): connect, one byte each way, close; true when echoed */
export function ping(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => { s.destroy(); resolve(false); }, 5_000);
    s.once('connect', () => s.write('x'));
    s.once('data', () => { clearTimeout(timer); s.end(); resolve(true); });
    s.once('error', () => { clearTimeout(timer); resolve(false); });
    s.once('close', () => { clearTimeout(timer); resolve(false); });
  });
}

/**
 * A listener that never accepts, its accept queue full (a Python process: Node's listeners always
 * accept): a new SYN is dropped and a connect to it hangs. Python binds a port of the kernel's
 * choice and prints it, so that no other test can take the port between a pick and the bind.
 * close() kills the process and drops the connections that fill its queue.
 */
export async function fullListener(): Promise<{ port: number; close(): void }> {
  const py = 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)\n';
  const child = spawn('python3', ['-c', py], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fillers: Socket[] = [];
  const close = () => {
    child.kill('SIGKILL');
    for (const s of fillers) s.destroy();
  };
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`python3 exited (${code}) before it listened`)));
  }).catch((err) => { close(); throw err; });
  // fill the queue: backlog 0 holds one connection; the fillers beyond it hang too
  for (let i = 0; i < 3; i++) {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await waitFor(() => fillers.some((s) => !s.connecting), 15_000, 'the full listener\'s queue to fill')
    .catch((err) => { close(); throw err; });
  return { port, close };
}

export interface HeldConnection {
  readonly socket: Socket;
  /** whether a byte written comes back within 2 s */
  alive(): Promise<boolean>;
  /** settles when the socket closes */
  readonly closed: Promise<void>;
}

/**
 * A connection held open to HOST:PORT through a path to an echoing backend, from LOCAL_ADDRESS
 * when given; ON_OPEN gets the socket first (a test's cleanup). Throws unless its first byte
 * comes back.
 */
export async function heldConnection(host: string, port: number, o: { localAddress?: string; onOpen?: (s: Socket) => void } = {}): Promise<HeldConnection> {
  const socket = net.connect({ host, port, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
  o.onOpen?.(socket);
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise((r, j) => socket.once('connect', r).once('error', j));
  const alive = () => new Promise<boolean>((resolve) => {
    if (socket.destroyed) return resolve(false);
    const t = setTimeout(() => resolve(false), 2_000);
    socket.once('data', () => { clearTimeout(t); resolve(true); });
    socket.once('close', () => { clearTimeout(t); resolve(false); });
    socket.write('y');
  });
  if (!(await alive())) throw new Error(`a connection held to ${host}:${port}: its first byte did not come back`);
  return { socket, alive, closed };
}
