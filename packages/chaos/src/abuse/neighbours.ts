import { once } from 'node:events';
import { createServer } from 'node:net';

/** Highest port whose port*10+5 is still a port: a tracking URI on it has a neighbour a digit away. */
const DIGIT_NEIGHBOUR_MAX_PORT = 6_553;
const LOWEST_UNPRIVILEGED_PORT = 1_024;

/**
 * The ports next to the MLflow address the service uses, that a confused pass-through could reach:
 * port+1..port+5, and port*10+5 (the tracking URI's port with a digit appended) when it is a valid port.
 */
export function neighbourPorts(port: number): number[] {
  const ports = [1, 2, 3, 4, 5].map((offset) => port + offset);
  if (port * 10 + 5 <= 65_535) ports.push(port * 10 + 5);
  return ports.filter((p) => p <= 65_535);
}

async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  try {
    server.listen({ host: '127.0.0.1', port, exclusive: true });
    await once(server, 'listening');
    server.close();
    await once(server, 'close');
    return true;
  } catch {
    return false;
  }
}

/**
 * A free loopback port for the proxy in front of MLflow (so for the MLflow address the service gets) low
 * enough that port*10+5 is a port too, with every neighbour free: the abuse class can then watch each port
 * an absolute-form or digit-appending target could reach. Undefined when none is found in `attempts` tries.
 */
export async function watchableMlflowPort(
  attempts = 100,
  random: () => number = Math.random,
): Promise<number | undefined> {
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const span = DIGIT_NEIGHBOUR_MAX_PORT - LOWEST_UNPRIVILEGED_PORT;
    const port = LOWEST_UNPRIVILEGED_PORT + Math.floor(random() * span);
    const candidates = [port, ...neighbourPorts(port)];
    const free = await Promise.all(candidates.map(isFree));
    if (free.every(Boolean)) return port;
  }
  return undefined;
}
