/**
 * cdk-nag AwsSolutions findings accepted on purpose. cdk-nag 3 is a CDK policy-validation plugin: findings are
 * acknowledged with CDK's `Validations.of(scope).acknowledge`, next to the construct they concern, each with its
 * reason. A finding not acknowledged interrupts `cdk synth` and fails the template tests.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Acknowledges one finding (`AwsSolutions-IAM4[Policy::…]` for a granular one) on `scope` and below. */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}
