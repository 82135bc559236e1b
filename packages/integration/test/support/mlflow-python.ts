import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { mlflowExecutable } from '@registry/testkit';

/** The Python of the virtual environment testkit installs MLflow into, or undefined when it is not provisioned. */
export function mlflowPython(): string | undefined {
  const python = join(dirname(mlflowExecutable()), 'python');
  return existsSync(python) ? python : undefined;
}

/** How a Python script ended: its exit code and output. */
export interface PythonRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `script` with `python` (`args` as sys.argv[1:]) and only the MLflow settings in `mlflowEnv` (none
 * inherited from this process); resolves however the script exits, killing it after `timeoutMs` (45 s:
 * within the test timeout, so the test reports the script rather than its own timeout).
 * The client's retries are off, so an error answer surfaces at once instead of after minutes of backoff.
 */
export function runPython(
  python: string,
  script: string,
  options: { args?: readonly string[]; mlflowEnv: Record<string, string>; timeoutMs?: number },
): Promise<PythonRun> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MLFLOW_')));
  const env = { ...inherited, MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0', ...options.mlflowEnv };
  return new Promise((resolve) => {
    execFile(
      python,
      ['-c', script, ...(options.args ?? [])],
      { env, timeout: options.timeoutMs ?? 45_000, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ exitCode, stdout, stderr });
      },
    );
  });
}
