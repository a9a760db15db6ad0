/**
 * A first deploy that cannot wedge: nothing that can fail once the deletion-protected database exists is a
 * resource of its stack. The setup stack holds the rotation, RDS Proxy and the deploy-time triggers, all of
 * them deletable; the stateful stack creates the database after every other resource it has.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { stackNames } from '../../../infra/cdk/lib/app.ts';
import { removeAssembly, SYNTH_TIMEOUT_MS, type SynthesizedApp, synthApp, templatesOf } from './synth-app.ts';

type Resource = {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};
type CfnTemplate = { Resources: Record<string, Resource>; Outputs?: Record<string, { Value: unknown; Export?: { Name: string } }> };

const names = stackNames('dev');
let built: SynthesizedApp;
let templates: Record<string, CfnTemplate>;

beforeAll(() => {
  built = synthApp();
  templates = templatesOf(built) as Record<string, CfnTemplate>;
}, SYNTH_TIMEOUT_MS);

afterAll(() => removeAssembly(built));

function template(name: string): CfnTemplate {
  const found = templates[name];
  if (found === undefined) throw new Error(`no stack ${name}`);
  return found;
}

function idsOfType(tpl: CfnTemplate, type: string): string[] {
  return Object.entries(tpl.Resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([id]) => id);
}

/** The logical ids a resource waits for: DependsOn, Ref and Fn::GetAtt in its properties. */
function directDependencies(tpl: CfnTemplate, id: string): Set<string> {
  const resource = tpl.Resources[id];
  const found = new Set<string>([resource?.DependsOn ?? []].flat());
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value !== null && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if (key === 'Ref' && typeof inner === 'string') found.add(inner);
        else if (key === 'Fn::GetAtt' && Array.isArray(inner) && typeof inner[0] === 'string') found.add(inner[0]);
        else walk(inner);
      }
    }
  };
  walk(resource?.Properties);
  for (const name of found) if (tpl.Resources[name] === undefined) found.delete(name);
  return found;
}

/** Everything `id` waits for, directly or not. */
function allDependencies(tpl: CfnTemplate, id: string): Set<string> {
  const seen = new Set<string>();
  const queue = [id];
  while (queue.length > 0) {
    for (const next of directDependencies(tpl, queue.pop() as string)) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen;
}

/** The rotation schedules of the master secret: the one secret imported from the stateful stack. */
function masterSchedules(tpl: CfnTemplate): string[] {
  return idsOfType(tpl, 'AWS::SecretsManager::RotationSchedule').filter((id) => {
    const secretId = tpl.Resources[id]?.Properties?.SecretId;
    return typeof secretId === 'object' && secretId !== null && 'Fn::ImportValue' in secretId;
  });
}

/** The Output value behind an `Fn::ImportValue` of another stack's export. */
function exported(exportName: unknown): unknown {
  for (const tpl of Object.values(templates)) {
    for (const output of Object.values(tpl.Outputs ?? {})) if (output.Export?.Name === exportName) return output.Value;
  }
  throw new Error(`no export ${JSON.stringify(exportName)}`);
}

describe('stateful stack', () => {
  it('holds the deletion-protected database and nothing that runs code at deploy time', () => {
    const stateful = template(names.stateful);
    expect(idsOfType(stateful, 'AWS::RDS::DBCluster')).toHaveLength(1);
    const types = new Set(Object.values(stateful.Resources).map((resource) => resource.Type));
    const fallible = [...types].filter(
      (type) =>
        type.startsWith('Custom::') ||
        [
          'AWS::CloudFormation::CustomResource',
          'AWS::CloudFormation::Stack',
          'AWS::Serverless::Application',
          'AWS::Lambda::Function',
          'AWS::RDS::DBProxy',
          'AWS::SecretsManager::RotationSchedule',
        ].includes(type),
    );
    expect(fallible).toEqual([]);
    Template.fromJSON(stateful).hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: true });
  });

  it('creates the database after every other resource of the stack, and only its own parts after it', () => {
    const stateful = template(names.stateful);
    const [cluster] = idsOfType(stateful, 'AWS::RDS::DBCluster');
    if (cluster === undefined) throw new Error('no cluster');
    const before = allDependencies(stateful, cluster);
    const others = Object.keys(stateful.Resources).filter(
      (id) => id !== cluster && stateful.Resources[id]?.Type !== 'AWS::CDK::Metadata',
    );
    const after = others.filter((id) => !before.has(id));
    // What is left is created once the cluster exists, so it waits for it; it is only the cluster's own parts.
    for (const id of after) expect({ id, waitsForCluster: allDependencies(stateful, id).has(cluster) }).toEqual({ id, waitsForCluster: true });
    expect(after.map((id) => stateful.Resources[id]?.Type).sort()).toEqual([
      'AWS::RDS::DBInstance',
      'AWS::SecretsManager::ResourcePolicy',
      'AWS::SecretsManager::SecretTargetAttachment',
    ]);
  });
});

describe('setup stack', () => {
  it('holds RDS Proxy, the secret rotations (master and one per application role) and both deploy-time triggers', () => {
    const setup = template(names.setup);
    expect(idsOfType(setup, 'AWS::RDS::DBProxy')).toHaveLength(1);
    expect(idsOfType(setup, 'AWS::Serverless::Application')).toHaveLength(3);
    expect(idsOfType(setup, 'Custom::Trigger').sort()).toEqual(['CreateTopicsTrigger', 'MigrateTrigger']);
  });

  it('rotates the secret attached to the stateful stack\'s cluster (what the SMG4 acknowledgement there relies on)', () => {
    const stateful = template(names.stateful);
    const [attachment] = idsOfType(stateful, 'AWS::SecretsManager::SecretTargetAttachment');
    const setup = template(names.setup);
    const imported = masterSchedules(setup).map((id) => {
      const secretId = setup.Resources[id]?.Properties?.SecretId as { 'Fn::ImportValue': unknown } | undefined;
      return secretId?.['Fn::ImportValue'];
    });
    expect(imported.map(exported)).toEqual([{ Ref: attachment }]);
  });

  it('can delete every resource it has: a failed first deploy rolls back to nothing', () => {
    const kept = Object.entries(template(names.setup).Resources).filter(
      ([, resource]) =>
        ['Retain', 'RetainExceptOnCreate', 'Snapshot'].includes(resource.DeletionPolicy ?? 'Delete') ||
        ['Retain', 'Snapshot'].includes(resource.UpdateReplacePolicy ?? 'Delete') ||
        resource.Properties?.DeletionProtection === true,
    );
    expect(kept.map(([id]) => id)).toEqual([]);
  });

  it('migrates after the proxy and the master rotation schedule exist', () => {
    const setup = template(names.setup);
    const waits = allDependencies(setup, 'MigrateTrigger');
    for (const type of ['AWS::RDS::DBProxy', 'AWS::RDS::DBProxyTargetGroup']) {
      expect({ type, waited: idsOfType(setup, type).every((id) => waits.has(id)) }).toEqual({ type, waited: true });
    }
    expect(masterSchedules(setup).every((id) => waits.has(id))).toBe(true);
  });

  it('rotates the application roles only after the migration has created them (the first rotation runs at once)', () => {
    const setup = template(names.setup);
    const master = new Set(masterSchedules(setup));
    const appSchedules = idsOfType(setup, 'AWS::SecretsManager::RotationSchedule').filter((id) => !master.has(id));
    expect(appSchedules).toHaveLength(2);
    for (const id of appSchedules) expect({ id, afterMigration: allDependencies(setup, id).has('MigrateTrigger') }).toEqual({ id, afterMigration: true });
  });

  it('is deployed after the stateful stack and before the stateless one', () => {
    const dependencies = (stack: { dependencies: { stackName: string }[] } | undefined) =>
      (stack?.dependencies ?? []).map((dependency) => dependency.stackName).sort();
    expect(dependencies(built.setup)).toEqual([names.stateful]);
    expect(dependencies(built.stateless)).toEqual([names.setup, names.stateful]);
  });
});
