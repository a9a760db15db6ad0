/**
 * ElastiCache IAM authentication: the password of `AUTH <user> <token>` is a SigV4-presigned
 * `GET https://<cache name>/?Action=connect&User=<user>` (service `elasticache`) without its scheme, valid
 * 15 minutes. ElastiCache checks it once, at AUTH: an open connection lives on after the token expires (until
 * ElastiCache closes IAM connections after 12 hours), so a token is only needed for each new connection.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { formatUrl } from '@aws-sdk/util-format-url';
import { SignatureV4 } from '@smithy/signature-v4';

/** The longest validity ElastiCache accepts. */
export const TOKEN_LIFETIME_SECONDS = 900;
/** A token is re-signed once less than this is left (10 minutes after signing, for a full 15-minute token). */
const REFRESH_MARGIN_MS = 5 * 60_000;

type Credentials = NonNullable<ConstructorParameters<typeof SignatureV4>[0]['credentials']>;

/** The Node provider chain, memoised (it re-reads credentials shortly before they expire); built on first use. */
let nodeCredentials: Credentials | undefined;
function nodeCredentialChain(): Credentials {
  nodeCredentials ??= defaultProvider();
  return nodeCredentials;
}

export interface ElastiCacheTokenOptions {
  /** Replication group id (or serverless cache name): the host of the signed URL. */
  readonly cacheName: string;
  /** The ElastiCache user id, which IAM-enabled users share with their user name. */
  readonly user: string;
  readonly region: string;
  /** Default: the Node provider chain (the Lambda role's credentials from the environment). */
  readonly credentials?: Credentials;
  /** Signing time (tests). */
  readonly now?: () => Date;
}

export interface ElastiCacheToken {
  readonly token: string;
  /** Epoch ms after which ElastiCache refuses it. */
  readonly expiresAt: number;
}

/**
 * @example
 * const { token } = await signElastiCacheToken({ cacheName: 'dev-le-cache', user: 'dev-le-enrich', region: 'eu-west-1' });
 * // 'dev-le-cache/?Action=connect&User=dev-le-enrich&X-Amz-Algorithm=AWS4-HMAC-SHA256&…&X-Amz-Signature=…'
 */
export async function signElastiCacheToken(options: ElastiCacheTokenOptions): Promise<ElastiCacheToken> {
  const credentials = options.credentials ?? nodeCredentialChain();
  const signingDate = (options.now ?? (() => new Date()))();
  // A presigned URL carrying a session token is only as good as that session: never sign past its end.
  const identity = typeof credentials === 'function' ? await credentials() : credentials;
  const remaining =
    identity.expiration === undefined ? TOKEN_LIFETIME_SECONDS : Math.floor((identity.expiration.getTime() - signingDate.getTime()) / 1000);
  const expiresIn = Math.max(1, Math.min(TOKEN_LIFETIME_SECONDS, remaining));
  const signer = new SignatureV4({ service: 'elasticache', region: options.region, credentials: identity, sha256: Sha256 });
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname: options.cacheName,
      path: '/',
      query: { Action: 'connect', User: options.user },
      headers: { host: options.cacheName },
    },
    { expiresIn, signingDate },
  );
  return { token: formatUrl(signed).replace(/^https:\/\//, ''), expiresAt: signingDate.getTime() + expiresIn * 1000 };
}

/**
 * One user's tokens for a client's connections: signed on demand, reused while more than five minutes of
 * validity are left, so a reconnect storm signs at most once per interval (signing is local: no AWS call
 * once the credentials are loaded).
 *
 * @example
 * const tokens = new ElastiCacheTokens({ cacheName: 'dev-le-cache', user: 'dev-le-enrich', region: 'eu-west-1' });
 * redis.options.password = await tokens.current();
 */
export class ElastiCacheTokens {
  readonly #options: ElastiCacheTokenOptions;
  readonly #sign: (options: ElastiCacheTokenOptions) => Promise<ElastiCacheToken>;
  #latest: ElastiCacheToken | undefined;
  #signing: Promise<ElastiCacheToken> | undefined;

  constructor(options: ElastiCacheTokenOptions, sign = signElastiCacheToken) {
    this.#options = options;
    this.#sign = sign;
  }

  async current(): Promise<string> {
    const nowMs = (this.#options.now?.() ?? new Date()).getTime();
    if (this.#latest !== undefined && this.#latest.expiresAt - nowMs > REFRESH_MARGIN_MS) return this.#latest.token;
    this.#signing ??= this.#sign(this.#options).finally(() => {
      this.#signing = undefined;
    });
    this.#latest = await this.#signing;
    return this.#latest.token;
  }
}
