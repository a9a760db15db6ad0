/**
 * layers/shared/src/tracing/xray-mode.ts puts the X-Ray SDK in manual mode where the Powertools tracer is off,
 * and must never do so where it is on: there the tracer would read segments from a context nobody keeps.
 * Its rule must be Powertools' own, which reads every variable trimmed (commons getStringFromEnv). Each case
 * runs in a fresh process: the decision is made once, at import.
 */
import { execFileSync } from 'node:child_process';

const tracerUrl = JSON.stringify(new URL('../../../layers/shared/src/tracing/tracer.ts', import.meta.url).href);

/** Whether the tracer is on, and whether the SDK was put in manual mode, after importing tracer.ts with `env`. */
function modeWith(env: Record<string, string>): { tracing: boolean; manual: boolean } {
  const script = `
    const { tracer } = await import(${tracerUrl});
    console.log(JSON.stringify({ tracing: tracer.isTracingEnabled(), manual: process.env.AWS_XRAY_MANUAL_MODE !== undefined }));`;
  const output = execFileSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR', ...env },
  });
  return JSON.parse(output) as { tracing: boolean; manual: boolean };
}

const lambda = { AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x', AWS_LAMBDA_FUNCTION_NAME: 'enrich' };

describe('the X-Ray SDK mode follows the Powertools tracer', () => {
  it.each<[string, Record<string, string>]>([
    ['in Lambda, tracing on by default', lambda],
    ['outside Lambda (npm start, tests, bench)', {}],
    ['in Lambda with POWERTOOLS_TRACE_ENABLED=false', { ...lambda, POWERTOOLS_TRACE_ENABLED: 'false' }],
    ['in Lambda with POWERTOOLS_TRACE_ENABLED=" FALSE "', { ...lambda, POWERTOOLS_TRACE_ENABLED: ' FALSE ' }],
    ['in SAM local', { ...lambda, AWS_SAM_LOCAL: 'true' }],
    ['in Lambda with a blank AWS_SAM_LOCAL (not SAM for Powertools)', { ...lambda, AWS_SAM_LOCAL: ' ' }],
    ['with a blank AWS_EXECUTION_ENV (not Lambda for Powertools)', { AWS_EXECUTION_ENV: ' ' }],
  ])('%s', (_name, env) => {
    const { tracing, manual } = modeWith(env);
    // Manual mode exactly where the tracer is off.
    expect(manual).toBe(!tracing);
  });
});
