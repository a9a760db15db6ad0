/**
 * Ingest entry point: `POST /api/logs` (one log, a JSON array or NDJSON → `raw-logs`) and `GET /api/health`.
 * Behaviour lives in `src/`, wiring in `dependencies.ts`; this file only joins them, once per Lambda instance.
 */
import { createIngestDependencies } from './dependencies.ts';
import { createIngestHandler } from './src/http-handler.ts';

export { ROUTES as routes } from './src/http-handler.ts';

const dependencies = createIngestDependencies(process.env);

/** `postLogs` is the raw route function (no middleware); `handler` is the middy-wrapped Lambda handler. */
export const { postLogs, health, handler } = createIngestHandler(dependencies);
