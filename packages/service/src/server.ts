// The service's entry point: the one place that reads the environment, builds the real dependencies,
// listens, and turns SIGTERM into a graceful close (readiness 503, in-flight requests finish, exit 0).
import { pino } from 'pino';
import { buildApp, LOG_REDACT_PATHS } from './app.js';
import { isConfigError, loadConfig } from './config.js';
import { createDependencyChecks } from './dependency-checks.js';
import { startEmfPublisher } from './emf-publisher.js';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (isConfigError(error)) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  const logger = pino({ level: config.logLevel, redact: LOG_REDACT_PATHS });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection');
    process.exit(1);
  });

  const app = buildApp({ config, logger, dependencies: createDependencyChecks(config) });
  await app.listen({ host: config.host, port: config.port });
  if (config.cloudwatch.emfEnabled) {
    startEmfPublisher({
      registry: app.registry,
      namespace: config.cloudwatch.namespace,
      intervalMs: config.cloudwatch.emfIntervalMs,
      write: (line) => process.stdout.write(line),
    });
  }

  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    app.registry.lifecycle.isShuttingDown = true;
    logger.info({ signal, drainDelayMs: config.shutdownDrainDelayMs }, 'shutting down: readiness is now 503');
    const close = () => {
      const force = setTimeout(() => {
        logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'in-flight requests did not finish in time; exiting');
        process.exit(1);
      }, config.shutdownTimeoutMs);
      force.unref();
      app.close().then(
        () => {
          logger.info('closed: in-flight requests finished');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'error while closing');
          process.exit(1);
        },
      );
    };
    // Keep listening for the drain delay so load balancers see readiness 503 before connections are refused.
    setTimeout(close, config.shutdownDrainDelayMs);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
