import { z } from 'zod';

/** `GET /version`: what is serving. */
export const versionSchema = z
  .strictObject({
    name: z.string(),
    version: z.string(),
    environment: z.string(),
    node_version: z.string(),
    git_commit: z.string().describe('the commit built; `unknown` when run from source or built without git'),
    build_date: z.iso.datetime().nullable().describe('when the build ran; null when run from source'),
  })
  .meta({ id: 'Version' });
