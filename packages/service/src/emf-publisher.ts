import type { RegistryContext } from './app.js';
import { healthScore } from './health-model.js';

/** The custom metrics the service publishes to CloudWatch (names the alarms in infrastructure/terraform use). */
export const EMF_METRICS = {
  trips: 'CircuitBreakerTrips',
  open: 'CircuitBreakerOpen',
  healthScore: 'ServiceHealthScore',
} as const;

/** Builds one CloudWatch embedded-metric-format line (JSON, one object) for the given values. */
export function emfLine(
  namespace: string,
  at: number,
  values: { trips: number; open: number; healthScore: number },
): string {
  return `${JSON.stringify({
    _aws: {
      Timestamp: at,
      CloudWatchMetrics: [
        {
          Namespace: namespace,
          Dimensions: [['Service']],
          Metrics: [
            { Name: EMF_METRICS.trips, Unit: 'Count' },
            { Name: EMF_METRICS.open, Unit: 'Count' },
            { Name: EMF_METRICS.healthScore, Unit: 'Percent' },
          ],
        },
      ],
    },
    Service: 'registry',
    [EMF_METRICS.trips]: values.trips,
    [EMF_METRICS.open]: values.open,
    [EMF_METRICS.healthScore]: values.healthScore,
  })}\n`;
}

/**
 * Publishes the breaker trips since the last publication, whether it is open, and the health score every
 * `intervalMs` through `write` (stdout in production, where the CloudWatch agent or awslogs picks it up).
 * Returns the stop function.
 */
export function startEmfPublisher(options: {
  registry: Pick<RegistryContext, 'breaker' | 'collectChecks' | 'now'>;
  namespace: string;
  intervalMs: number;
  write: (line: string) => void;
}): () => void {
  let lastTrips = options.registry.breaker.snapshot().tripsTotal;
  const publish = async () => {
    const snapshot = options.registry.breaker.snapshot();
    const score = healthScore(await options.registry.collectChecks());
    options.write(
      emfLine(options.namespace, options.registry.now(), {
        trips: snapshot.tripsTotal - lastTrips,
        open: snapshot.state === 'open' ? 1 : 0,
        healthScore: score,
      }),
    );
    lastTrips = snapshot.tripsTotal;
  };
  const timer = setInterval(() => void publish(), options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
