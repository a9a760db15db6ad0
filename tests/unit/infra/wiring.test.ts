/**
 * Every wiring check holds on the synthesized app: the AWS target (all stacks, as `cdk synth` writes them; both
 * cost profiles) and, where a check applies, the LocalStack target. Each check must have found something to verify where it
 * applies, so a check that silently matches nothing fails here. wiring-mutations.test.ts shows each one failing.
 */
import { TemplateModel, type Templates } from './template-eval.ts';
import { CHECKS } from './wiring-checks.ts';
import { removeAssembly, SYNTH_TIMEOUT_MS, synthApp, templatesOf } from './synth-app.ts';

/** The synths checked: the AWS target in both cost profiles (minimal has on-demand pollers) and LocalStack. */
const VARIANTS = {
  aws: {},
  'aws, costProfile=minimal': { costProfile: 'minimal' },
  local: { target: 'local' },
} as const;
type Variant = keyof typeof VARIANTS;

const models: Partial<Record<Variant, TemplateModel>> = {};

beforeAll(() => {
  for (const [variant, context] of Object.entries(VARIANTS)) {
    const built = synthApp(context);
    try {
      models[variant as Variant] = new TemplateModel(templatesOf(built) as Templates);
    } finally {
      removeAssembly(built);
    }
  }
}, SYNTH_TIMEOUT_MS);

function model(variant: Variant): TemplateModel {
  const found = models[variant];
  if (found === undefined) throw new Error(`no ${variant} synth`);
  return found;
}

describe.each(Object.keys(VARIANTS) as Variant[])('%s', (variant) => {
  const target = variant === 'local' ? 'local' : 'aws';
  it.each(Object.entries(CHECKS))('%s holds', (_name, { check, targets }) => {
    // Act
    const verified = check(model(variant));

    // Assess: where the check applies it verified something; elsewhere it had nothing to verify or passed.
    if (targets.includes(target)) expect(verified).toBeGreaterThan(0);
    else expect(verified).toBeGreaterThanOrEqual(0);
  });
});

it('sees the MSK cluster, its mapping and the functions across stacks, whatever the stacks are called', () => {
  const aws = model('aws');
  expect(Object.keys(aws.templates).length).toBeGreaterThan(1);
  expect(aws.resources(/^AWS::MSK::/)).toHaveLength(1);
  expect(aws.resources('AWS::Lambda::EventSourceMapping')).toHaveLength(2);
});
