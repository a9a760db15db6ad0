/**
 * Enrich entry point, invoked by the Kafka event source mapping (MSK or self-managed) with a batch of
 * `raw-logs` records. Behaviour lives in `src/`, wiring in `dependencies.ts`; this file only joins them, once
 * per Lambda instance.
 */
import { createEnrichDependencies } from './dependencies.ts';
import { createEnrichHandler } from './src/enrich-handler.ts';

const dependencies = createEnrichDependencies(process.env);

/** `rawHandler` is the raw function (no middleware); `handler` is the middy-wrapped Lambda handler. */
export const { rawHandler, handler } = createEnrichHandler(dependencies);
