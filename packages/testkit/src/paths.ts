import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The monorepo root (the folder with pnpm-workspace.yaml above this package). */
export function workspaceRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'pnpm-workspace.yaml'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('testkit: cannot find the workspace root (pnpm-workspace.yaml)');
    dir = parent;
  }
  return dir;
}

/** Where provisioned tools live: REGISTRY_TOOLS_DIR, or `.tools` in the workspace root. */
export function toolsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.REGISTRY_TOOLS_DIR || join(workspaceRoot(), '.tools');
}
