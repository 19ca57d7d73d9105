// What the consumer of another account's endpoint service sees of it: the service (its id and
// name) and the port its endpoint exposes (client_port), never the provider's backends, their
// addresses, zones or health (000_9af245a83013c30f.txt 1.2: endpoints reach a service "without
// exposing server information"). The service's owner sees them: they are its own resources. The
// path tracer and the per-account proxies (README "The path tracer", "Fault injection") decide by
// these two. Pure.

/** whether an account sees a service's backends: only the service's owner does */
export const seesBackends = (account: string, serviceOwner: string): boolean => account === serviceOwner;

/**
 * What a consumer is shown in place of a backend's address: the service's name and the port its
 * endpoint exposes, HOST:PORT-shaped so that a Toxiproxy client reads it as a proxy's `upstream`.
 */
export const serviceAddress = (serviceName: string, clientPort: number): string => `${serviceName}:${clientPort}`;
