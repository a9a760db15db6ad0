/**
 * What `aws-msk-iam-sasl-signer-js` gets in the bundles when it requires `@aws-sdk/credential-providers`
 * (an esbuild alias, infra/cdk/lib/bundling.ts). The signer is CommonJS, so esbuild cannot shake that
 * package: all of it (the Cognito client, bowser, every provider) landed in every Kafka bundle for the one
 * provider we reach. This module hands it the same functions from the single-provider packages instead.
 *
 * `generateAuthToken` (what connection.ts calls) uses `fromNodeProviderChain`; `generateAuthTokenFromProfile`
 * uses `fromIni`, which the chain bundles anyway. Only `generateAuthTokenFromRole` is given up: it fails with
 * the error below instead of assuming a role (the function's execution role is what signs).
 */
import { type DefaultProviderInit, defaultProvider } from '@aws-sdk/credential-provider-node';

export { fromIni } from '@aws-sdk/credential-provider-ini';

/** `@aws-sdk/credential-providers`' own definition (it imports the package lazily; bundled, it is there anyway). */
export const fromNodeProviderChain = (init: DefaultProviderInit = {}) => defaultProvider({ ...init });

/** The signer's `generateAuthTokenFromRole` path; it would bring STS role assumption into the bundle. */
export function fromTemporaryCredentials(): never {
  throw new Error(
    'fromTemporaryCredentials is not bundled (layers/shared/src/kafka/signer-deps): the MSK IAM signer signs with the ' +
      "function's execution role through generateAuthToken; generateAuthTokenFromRole is not supported in the bundles",
  );
}
