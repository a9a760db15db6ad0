/**
 * cdk-nag AwsSolutions findings accepted on purpose. cdk-nag 3 is a CDK policy-validation plugin: findings are
 * acknowledged with CDK's `Validations.of(scope).acknowledge`, next to the construct they concern, each with its
 * reason. A finding not acknowledged interrupts `cdk synth` and fails the template tests.
 */
import { Stack, Validations } from 'aws-cdk-lib';
// cdk-nag's own rendering of a resource in its finding ids (not exported from its index; a missing file fails
// the import, never silently).
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

/** Acknowledges one finding (`AwsSolutions-IAM4[Policy::…]` for a granular one) on `scope` and below. */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * Acknowledges cdk-nag's wildcard finding (AwsSolutions-IAM5) on one resource of the policies of `scope`
 * (a role), and on no other. The finding names the resource as the template has it, and an ARN built from
 * another stack's value becomes an `Fn::ImportValue` only once CDK resolves the references between stacks,
 * after construction: the acknowledgement is added then, from a validation hook (CDK runs those after that
 * resolution and before the validation plugins), in the id cdk-nag gives it.
 *
 * @example
 * acknowledgeWildcardResource(fn.role, groupArn, 'Groups named at run time (<prefix><uuid>): granted by prefix');
 */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  scope.node.addValidation({
    validate: () => {
      const rendered = flattenCfnReference(Stack.of(scope).resolve(resource));
      acknowledge(scope, `AwsSolutions-IAM5[Resource::${rendered}]`, reason);
      return [];
    },
  });
}
