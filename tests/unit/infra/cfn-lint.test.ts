/**
 * cfn-lint (AWS's CloudFormation linter, a Python tool) over every synthesized template of both targets, and of
 * the AWS target's minimal cost profile: no result of level Error (warnings are allowed). Where cfn-lint is not
 * installed the test says so and is skipped, never failed: `pip install cfn-lint` enables it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeAssembly, SYNTH_TIMEOUT_MS, type SynthesizedApp, synthApp } from './synth-app.ts';

interface Match {
  readonly Level: string;
  readonly Filename: string;
  readonly Message: string;
  readonly Rule: { readonly Id: string };
  readonly Location: { readonly Path?: readonly (string | number)[] };
}

const installed = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
const available = installed.error === undefined && installed.status === 0;
if (!available) console.warn('cfn-lint is not installed (pip install cfn-lint): the template lint test is skipped');

const builds: SynthesizedApp[] = [];
/** Both targets, and the AWS target's minimal cost profile (other resources, other properties). */
const VARIANTS = { aws: {}, 'aws, costProfile=minimal': { costProfile: 'minimal' }, local: { target: 'local' } } as const;
type Variant = keyof typeof VARIANTS;
const templates: Record<Variant, string[]> = { aws: [], 'aws, costProfile=minimal': [], local: [] };

beforeAll(() => {
  if (!available) return;
  for (const [variant, context] of Object.entries(VARIANTS) as [Variant, Record<string, string>][]) {
    const built = synthApp(context);
    builds.push(built);
    const manifest = JSON.parse(readFileSync(join(built.outdir, 'manifest.json'), 'utf8')) as {
      artifacts: Record<string, { type: string; properties?: { templateFile?: string } }>;
    };
    for (const artifact of Object.values(manifest.artifacts)) {
      const file = artifact.properties?.templateFile;
      if (artifact.type === 'aws:cloudformation:stack' && file !== undefined) templates[variant].push(join(built.outdir, file));
    }
  }
}, SYNTH_TIMEOUT_MS);

afterAll(() => {
  for (const built of builds) removeAssembly(built);
});

// Without cfn-lint the test is reported as skipped, not passed.
const lintTest = available ? it : it.skip;

describe.each(Object.keys(VARIANTS) as Variant[])('%s', (variant) => {
  lintTest(
    'has no cfn-lint errors',
    () => {
      // Act
      const files = templates[variant];
      const run = spawnSync('cfn-lint', ['--format', 'json', '--', ...files], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });

      // Assess
      expect(files.length).toBeGreaterThan(0);
      expect(run.error).toBeUndefined();
      const matches = JSON.parse(run.stdout || '[]') as Match[];
      const errors = matches
        .filter((m) => m.Level === 'Error')
        .map((m) => `${m.Rule.Id} ${m.Filename.split('/').pop()} ${(m.Location.Path ?? []).join('.')}: ${m.Message}`);
      expect(errors).toEqual([]);
      // Exit status is a bit mask: 2 errors, 4 warnings, 8 informational; 1 means cfn-lint itself failed.
      expect((run.status ?? 1) & 1).toBe(0);
    },
    120_000,
  );
});
