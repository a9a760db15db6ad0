/**
 * Imported by `tracer.ts` before the Powertools Tracer (ES modules run their imports in order), so it runs
 * before the X-Ray SDK loads. Where the tracer is off (as Powertools decides: no AWS_EXECUTION_ENV, as in tests,
 * `npm start` and the bench; AWS_SAM_LOCAL; POWERTOOLS_TRACE_ENABLED=false) the SDK is put in manual mode:
 * in its default automatic mode it creates a CLS namespace at load, an async_hooks hook (init, before, after,
 * destroy) that runs for every promise and I/O resource of the process, which cost the local ingest 10–40 µs
 * per request in its profile (issue 11). An off tracer never reads or writes a segment, so nothing uses that
 * context. In Lambda with tracing on nothing changes (an explicit AWS_XRAY_MANUAL_MODE is kept either way).
 */
const env = process.env;
// Trimmed, as Powertools reads them (commons getStringFromEnv): a blank AWS_SAM_LOCAL is "not SAM" to it.
const read = (name: string) => (env[name] ?? '').trim();
const tracingOff =
  read('POWERTOOLS_TRACE_ENABLED').toLowerCase() === 'false' ||
  read('AWS_SAM_LOCAL') !== '' ||
  read('AWS_EXECUTION_ENV') === '' ||
  read('AWS_EXECUTION_ENV') === 'AWS_Lambda_amplify-mock';
if (tracingOff) env.AWS_XRAY_MANUAL_MODE ??= 'true';

export {};
