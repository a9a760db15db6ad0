/**
 * The memory of each pipeline function, in MB: one place for the stack (stateless-stack.ts) and for the Lambda
 * cost that `npm run bench` derives from it, so the two cannot drift. No CDK import: the bench reads it.
 */
export const MEMORY_MB = {
  ingest: 512,
  metadata: 512,
  enrich: 1024,
  // Like enrich: the same lookups and encoding per log; its batches come from the partial topic, which is
  // small when the sources answer and as large as raw-logs' traffic while one is down.
  reenrich: 1024,
} as const;
