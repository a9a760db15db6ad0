/**
 * Builds the CDK app the way `cdk synth` does (cdk.json's context, plus overrides) into a temporary cloud
 * assembly. Each test file synthesizes a target once and shares the templates: bundling is the slow part.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type BuiltApp, buildApp } from '../../../infra/cdk/lib/app.ts';
import { REPO_ROOT } from '../../../infra/cdk/lib/paths.ts';

/** The fixed, project-wide context of cdk.json (what the CLI passes to the app). */
function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return cdkJson.context ?? {};
}

export interface SynthesizedApp extends BuiltApp {
  readonly app: App;
  readonly outdir: string;
}

export function synthApp(context: Record<string, unknown> = {}): SynthesizedApp {
  const outdir = mkdtempSync(join(tmpdir(), 'cdk-test-'));
  // Asset metadata (as the CLI enables it) tells which cdk.out folder holds each function's bundle.
  const app = new App({
    outdir,
    context: { ...cdkJsonContext(), 'aws:cdk:enable-asset-metadata': true, ...context },
  });
  const built = buildApp(app);
  // Runs the cdk-nag validation plugin too: an unacknowledged finding throws here.
  app.synth();
  return { ...built, app, outdir };
}

/** The AWS target's three templates (the LocalStack target has no stateful or setup stack: that throws). */
export function awsTemplates(built: SynthesizedApp): { stateful: Template; setup: Template; stateless: Template } {
  if (built.stateful === undefined || built.setup === undefined) throw new Error('the AWS target has stateful and setup stacks');
  return { stateful: Template.fromStack(built.stateful), setup: Template.fromStack(built.setup), stateless: Template.fromStack(built.stateless) };
}

/** A synth with bundling takes seconds; give beforeAll room. */
export const SYNTH_TIMEOUT_MS = 180_000;

/** The staged bundle folder of a Lambda function resource (needs asset metadata). */
export function assetDirectory(outdir: string, resource: { Metadata?: Record<string, unknown> }): string {
  const path = resource.Metadata?.['aws:asset:path'];
  if (typeof path !== 'string') throw new Error('the resource has no aws:asset:path metadata');
  return join(outdir, path);
}

/** Deletes a test's cloud assembly (bundles included). */
export function removeAssembly(built: SynthesizedApp | undefined): void {
  if (built !== undefined) rmSync(built.outdir, { recursive: true, force: true });
}

/** Every stack's synthesized template by stack name, read from the cloud assembly (as `cdk deploy` reads it). */
export function templatesOf(built: SynthesizedApp): Record<string, Record<string, unknown>> {
  const manifest = JSON.parse(readFileSync(join(built.outdir, 'manifest.json'), 'utf8')) as {
    artifacts: Record<string, { type: string; properties?: { templateFile?: string; stackName?: string } }>;
  };
  const templates: Record<string, Record<string, unknown>> = {};
  for (const [id, artifact] of Object.entries(manifest.artifacts)) {
    if (artifact.type !== 'aws:cloudformation:stack' || artifact.properties?.templateFile === undefined) continue;
    const file = join(built.outdir, artifact.properties.templateFile);
    templates[artifact.properties.stackName ?? id] = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  }
  return templates;
}
