// Listeners of the data plane: the addon's when the native relay runs (it accepts, connects and
// relays), else Node's (the JS relay). Their owners see the same PendingClient either way.
import type { ListenerSink, TcpListener } from './connection.js';
import { listenNode } from './js-relay.js';
import { listenNative } from './native-connection.js';
import { activeRelay } from './native-relay.js';

/** listens on host:port with the relay chosen now; rejects with the bind error (err.code) */
export async function listenTcp(host: string, port: number, sink: ListenerSink): Promise<TcpListener> {
  const native = activeRelay();
  return native ? listenNative(native, host, port, sink) : listenNode(host, port, sink);
}
