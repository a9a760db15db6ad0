/**
 * The `outputEncoding` context reaches the enrich function and the re-enricher (which writes the same topics)
 * as OUTPUT_ENCODING on both targets (json when unset), and only them: the other functions' schemas do not read it (tests/unit/infra/env-schemas.test.ts
 * checks the default synth's environments against the schemas). Bundling is skipped
 * (`aws:cdk:bundling-stacks`): only the templates matter here.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../../infra/cdk/lib/app.ts';
import { SERVICES } from '../../../infra/cdk/lib/stateless-stack.ts';

type Resource = { Properties: { Environment?: { Variables?: Record<string, unknown> } } };

/** OUTPUT_ENCODING of each house function (by service name) in the stateless stack of a synth with `context`. */
function outputEncodings(context: Record<string, unknown>): Record<string, unknown> {
  const built = buildApp(new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } }));
  const functions = Object.values(Template.fromStack(built.stateless).findResources('AWS::Lambda::Function') as Record<string, Resource>);
  const found: Record<string, unknown> = {};
  for (const fn of functions) {
    const variables = fn.Properties.Environment?.Variables ?? {};
    const service = variables.POWERTOOLS_SERVICE_NAME;
    if (typeof service === 'string') found[service] = variables.OUTPUT_ENCODING;
  }
  return found;
}

describe.each(['aws', 'local'])('%s target', (target) => {
  it('sets OUTPUT_ENCODING=json on enrich and the re-enricher when the context has no outputEncoding', () => {
    expect(outputEncodings({ target })).toEqual({
      [SERVICES.ingest]: undefined,
      [SERVICES.enrich]: 'json',
      [SERVICES.metadata]: undefined,
      [SERVICES.reenrich]: 'json',
    });
  });

  it.each(['otlp_proto', 'otlp_json'])('sets OUTPUT_ENCODING=%s on enrich and the re-enricher from the context', (outputEncoding) => {
    expect(outputEncodings({ target, outputEncoding })).toEqual({
      [SERVICES.ingest]: undefined,
      [SERVICES.enrich]: outputEncoding,
      [SERVICES.metadata]: undefined,
      [SERVICES.reenrich]: outputEncoding,
    });
  });
});
