import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { mlflowExecutable } from '@registry/testkit';

/** The Python of the virtual environment testkit installs MLflow into, or undefined when it is not provisioned. */
export function mlflowPython(): string | undefined {
  const python = join(dirname(mlflowExecutable()), 'python');
  return existsSync(python) ? python : undefined;
}

/** How a Python script ended: its exit code (null: killed or lost) and output. */
export interface PythonRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** One client session: runs scripts one after the other in one Python that imported MLflow once. */
export interface PythonClient extends AsyncDisposable {
  /**
   * Runs `script` as `python -c` would (`args` as sys.argv[1:]) with only the MLflow settings in
   * `mlflowEnv` (none inherited from this process); resolves however the script ends, and after
   * `timeoutMs` (45 s: within the test timeout, so the test reports the script rather than its own
   * timeout) kills the session, which the next script starts anew.
   */
  run(
    script: string,
    options: { args?: readonly string[]; mlflowEnv: Record<string, string>; timeoutMs?: number },
  ): Promise<PythonRun>;
}

/**
 * Reads one job per line on stdin ({script, args, env}), runs it as `__main__` with that environment and
 * argv, and writes one line back: its exit code and what it printed. Importing MLflow takes about 1.4 s
 * of CPU, once per session instead of once per script.
 */
const SESSION = `
import contextlib, io, json, os, sys, traceback
import mlflow
from mlflow import MlflowClient
base = dict(os.environ)
answers = sys.stdout
for line in sys.stdin:
    job = json.loads(line)
    os.environ.clear()
    os.environ.update(base)
    os.environ.update(job["env"])
    sys.argv = ["-c", *job["args"]]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            exec(compile(job["script"], "<script>", "exec"), {"__name__": "__main__"})
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    answers.write(json.dumps({"exitCode": code, "stdout": out.getvalue(), "stderr": err.getvalue()}) + "\\n")
    answers.flush()
`;

/** What a session keeps of its own stderr (MLflow's log handlers write there, not to a script's stderr). */
const MAX_SESSION_STDERR = 64 * 1024;

/**
 * A client session on `python`, started at once. The client's retries are off, so an error answer
 * surfaces at once instead of after minutes of backoff.
 */
export function startPythonClient(python: string): PythonClient {
  let session: { child: ChildProcessWithoutNullStreams; stderr: string } | undefined;
  let current: { finish: (run: PythonRun) => void } | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const end = () => {
    session?.child.kill('SIGKILL');
    session = undefined;
  };
  const start = () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MLFLOW_')));
    const child = spawn(python, ['-c', SESSION], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const started = { child, stderr: '' };
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      started.stderr = (started.stderr + chunk).slice(-MAX_SESSION_STDERR);
    });
    child.stdin.on('error', () => {});
    createInterface({ input: child.stdout }).on('line', (line) => {
      const answer = JSON.parse(line) as PythonRun;
      current?.finish({ ...answer, stderr: `${answer.stderr}${started.stderr}` });
    });
    child.on('exit', (code, signal) => {
      if (session === started) session = undefined;
      current?.finish({ exitCode: null, stdout: '', stderr: `Python exited (${signal ?? code})\n${started.stderr}` });
    });
    return started;
  };

  const runOne = (script: string, args: readonly string[], env: Record<string, string>, timeoutMs: number) =>
    new Promise<PythonRun>((resolve) => {
      session ??= start();
      session.stderr = '';
      const timer = setTimeout(() => {
        const stderr = session?.stderr ?? '';
        end();
        finish({ exitCode: null, stdout: '', stderr: `killed after ${timeoutMs} ms\n${stderr}` });
      }, timeoutMs);
      const finish = (run: PythonRun) => {
        clearTimeout(timer);
        current = undefined;
        resolve(run);
      };
      current = { finish };
      session.child.stdin.write(`${JSON.stringify({ script, args, env })}\n`);
    });

  // Started now, so that importing MLflow overlaps whatever the suite starts before its first script.
  session = start();
  return {
    run(script, options) {
      const env = { MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0', ...options.mlflowEnv };
      const run = queue.then(() => runOne(script, options.args ?? [], env, options.timeoutMs ?? 45_000));
      queue = run;
      return run;
    },
    async [Symbol.asyncDispose]() {
      const child = session?.child;
      if (!child) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      end();
    },
  };
}
