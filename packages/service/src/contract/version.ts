import { z } from 'zod';

/** `GET /version`: what is serving. */
export const versionSchema = z
  .strictObject({
    name: z.string(),
    version: z.string(),
    environment: z.string(),
    node_version: z.string(),
  })
  .meta({ id: 'Version' });
