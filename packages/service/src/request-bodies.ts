import type { FastifyReply, FastifyRequest } from 'fastify';
import { createClientShares } from './client-shares.js';
import { clientLimited, saturated } from './mlflow-gateway.js';

/** How many requests with a body may be in progress at once: per client, and for all clients together. */
export interface BodySlotLimits {
  readonly perClient: number;
  readonly total: number;
}

/** The bound on request bodies held in memory; `onRequest` goes after the API key hook, which names the client. */
export interface BodySlots {
  /** Requests with a body in progress now, for all clients. */
  inProgress(): number;
  onRequest(request: FastifyRequest, reply: FastifyReply): Promise<void>;
}

/** Methods whose body Fastify never reads: a body sent with them is discarded, not held. */
const BODYLESS_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/** True when the request declares a body Fastify will read into memory before its route runs. */
function declaresBody(request: FastifyRequest): boolean {
  if (BODYLESS_METHODS.has(request.method)) return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * A route reads its whole body (up to BODY_LIMIT) before it runs, and holds it until it answers, so bodies
 * are held to slots taken before the first byte is read: a client may have `perClient` requests with a body
 * in progress, all clients together `total`. One more is refused at once, its body never read: 429
 * CLIENT_CONCURRENCY_LIMIT for the client's share, 503 MLFLOW_SATURATED when every slot is taken. A slot is
 * held from the request's headers until its answer is sent or its connection closes, so a client that
 * trickles its body holds only its own slots, for REQUEST_TIMEOUT at most.
 */
export function createBodySlots(limits: BodySlotLimits): BodySlots {
  const shares = createClientShares(limits.perClient);
  let total = 0;
  return {
    inProgress: () => total,
    async onRequest(request, reply) {
      if (!declaresBody(request)) return;
      const release = shares.take(request.registryClient);
      if (!release) {
        throw clientLimited(
          limits.perClient,
          `This client already has ${limits.perClient} requests with a body in progress (MLFLOW_CLIENT_MAX_CONCURRENCY); retry after the Retry-After delay.`,
        );
      }
      if (total >= limits.total) {
        release();
        throw saturated({
          message: `The service already holds ${limits.total} requests with a body (MLFLOW_MAX_CONCURRENCY + MLFLOW_QUEUE_SIZE); retry after the Retry-After delay.`,
        });
      }
      total += 1;
      reply.raw.once('close', () => {
        total -= 1;
        release();
      });
    },
  };
}
