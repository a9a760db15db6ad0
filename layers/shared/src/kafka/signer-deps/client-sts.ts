/**
 * What `aws-msk-iam-sasl-signer-js` gets in the bundles when it requires `@aws-sdk/client-sts` (an esbuild
 * alias, infra/cdk/lib/bundling.ts). The signer uses STS only to log the caller's identity when it is given
 * `awsDebugCreds`, which connection.ts never passes; the require sits at the top of its CommonJS module, so
 * without the alias the whole STS client is bundled for that debug line.
 */
const NOT_BUNDLED =
  'awsDebugCreds is not bundled (layers/shared/src/kafka/signer-deps): the MSK IAM signer cannot log the caller identity in the Lambda bundles';

export class STSClient {
  constructor() {
    throw new Error(NOT_BUNDLED);
  }
}

export class GetCallerIdentityCommand {
  constructor() {
    throw new Error(NOT_BUNDLED);
  }
}
