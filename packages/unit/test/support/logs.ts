import type { AppDeps } from '@registry/service';

/** The logger `buildApp` accepts. */
type AppLogger = NonNullable<AppDeps['logger']>;

/** One captured log line: the level, the message and the merged bindings and fields. */
export interface LogLine {
  readonly level: string;
  readonly msg: string | undefined;
  readonly [field: string]: unknown;
}

/** A logger for `buildApp({ logger })` that keeps every line in `lines`, so tests can assert on logs. */
export function createCapturingLogger(): { logger: AppLogger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const make = (bindings: Record<string, unknown>): AppLogger => {
    const at =
      (level: string) =>
      (objOrMsg: unknown, msg?: unknown): void => {
        if (typeof objOrMsg === 'string') lines.push({ ...bindings, level, msg: objOrMsg });
        else
          lines.push({ ...bindings, ...(objOrMsg as object), level, msg: typeof msg === 'string' ? msg : undefined });
      };
    return {
      level: 'trace',
      fatal: at('fatal'),
      error: at('error'),
      warn: at('warn'),
      info: at('info'),
      debug: at('debug'),
      trace: at('trace'),
      silent: () => {},
      child: (childBindings) => make({ ...bindings, ...childBindings }),
    };
  };
  return { logger: make({}), lines };
}
