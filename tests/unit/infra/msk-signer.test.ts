/**
 * MSK IAM as bundled: aws-msk-iam-sasl-signer-js reaches `@aws-sdk/credential-providers` and
 * `@aws-sdk/client-sts` through the project's small modules (ESBUILD_ALIASES, infra/cdk/lib/bundling.ts).
 * The signer is CommonJS and the modules ESM, so a name the signer uses and a module lacks would be
 * `undefined` at run time, not a build error: the names are read from the signer's own files here, and the
 * token is made by a real bundle and compared with the unbundled signer's.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { generateAuthTokenFromCredentialsProvider } from 'aws-msk-iam-sasl-signer-js';
import { build } from 'esbuild';
import { ESBUILD_ALIASES, esbuildOptions } from '../../../infra/cdk/lib/bundling.ts';
import { REPO_ROOT } from '../../../infra/cdk/lib/paths.ts';

const REGION = 'eu-west-1';
const CREDENTIALS = { accessKeyId: 'ASIAFAKEBUNDLETEST01', secretAccessKey: 'fake-secret', sessionToken: 'fake-session-token' };

/** Aliases whose target is one of the project's files (not another package's entry). */
const projectAliases = Object.entries(ESBUILD_ALIASES).filter(([, target]) => target.startsWith('./'));

/** For each package the signer's shipped files require, the names they read from it (`<var>_1.name`). */
function signerUses(): Map<string, Set<string>> {
  const dist = dirname(createRequire(import.meta.url).resolve('aws-msk-iam-sasl-signer-js'));
  const uses = new Map<string, Set<string>>();
  for (const file of readdirSync(dist).filter((name) => name.endsWith('.js') && !name.endsWith('.spec.js'))) {
    const source = readFileSync(join(dist, file), 'utf8');
    for (const [, variable, specifier] of source.matchAll(/var (\w+) = require\("([^"]+)"\)/g)) {
      const names = uses.get(specifier as string) ?? new Set<string>();
      for (const [, name] of source.matchAll(new RegExp(`\\b${variable}\\.(\\w+)`, 'g'))) names.add(name as string);
      uses.set(specifier as string, names);
    }
  }
  return uses;
}

const decode = (token: string): URL => new URL(Buffer.from(token, 'base64url').toString('utf8'));

describe('the signer modules the bundles alias', () => {
  it('export every name the signer reads from the packages they replace', async () => {
    const uses = signerUses();
    expect(projectAliases.map(([from]) => from).sort()).toEqual(['@aws-sdk/client-sts', '@aws-sdk/credential-providers']);
    for (const [from, target] of projectAliases) {
      const names = [...(uses.get(from) ?? [])].sort();
      expect([from, names.length > 0]).toEqual([from, true]); // the signer still requires it, and the grep found its uses
      const module = (await import(pathToFileURL(join(REPO_ROOT, target)).href)) as Record<string, unknown>;
      expect([from, names.filter((name) => typeof module[name] !== 'function')]).toEqual([from, []]);
    }
  });

  it('fail with a clear error on the signer paths they leave out', async () => {
    const providers = await import('../../../layers/shared/src/kafka/signer-deps/credential-providers.ts');
    const sts = await import('../../../layers/shared/src/kafka/signer-deps/client-sts.ts');
    expect(() => providers.fromTemporaryCredentials()).toThrow(/fromTemporaryCredentials is not bundled/);
    expect(() => new sts.STSClient()).toThrow(/awsDebugCreds is not bundled/);
    expect(() => new sts.GetCallerIdentityCommand()).toThrow(/awsDebugCreds is not bundled/);
  });
});

describe('MSK IAM in a bundle built as the functions are', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'msk-signer-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("signs the same kafka-cluster:Connect URL as the unbundled signer, with the environment's credentials", async () => {
    const outfile = join(dir, 'index.mjs');
    await build({
      ...esbuildOptions(join(REPO_ROOT, 'tests/unit/infra/msk-token-entry.ts'), outfile),
      absWorkingDir: REPO_ROOT,
      logLevel: 'error',
    });
    const { stdout } = await promisify(execFile)(process.execPath, [outfile], {
      // Only what Lambda gives a function: region and the execution role's credentials in the environment.
      env: {
        KAFKA_AUTH: 'aws-msk-iam',
        KAFKA_BROKERS: 'b-1.pipeline.example.kafka.eu-west-1.amazonaws.com:9098',
        AWS_REGION: REGION,
        AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
        AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
        HOME: dir, // no ~/.aws of this machine
      },
      timeout: 30_000,
    });
    const bundled = decode(stdout.trim());
    const reference = decode(
      (await generateAuthTokenFromCredentialsProvider({ region: REGION, awsCredentialsProvider: async () => CREDENTIALS })).token,
    );

    expect(`${bundled.origin}${bundled.pathname}`).toBe(`https://kafka.${REGION}.amazonaws.com/`);
    expect(bundled.searchParams.get('Action')).toBe('kafka-cluster:Connect');
    expect(bundled.searchParams.get('X-Amz-Credential')).toMatch(
      new RegExp(`^${CREDENTIALS.accessKeyId}/\\d{8}/${REGION}/kafka-cluster/aws4_request$`),
    );
    expect(bundled.searchParams.get('X-Amz-Security-Token')).toBe(CREDENTIALS.sessionToken);
    expect([...bundled.searchParams.keys()].sort()).toEqual([...reference.searchParams.keys()].sort());
    // Everything but the time of signing and what depends on it is the same as the reference's.
    const timeless = (url: URL) =>
      [...url.searchParams]
        .filter(([name]) => name !== 'X-Amz-Date' && name !== 'X-Amz-Signature')
        .map(([name, value]) => [name, name === 'X-Amz-Credential' ? value.replace(/\/\d{8}\//, '/DATE/') : value]);
    expect(timeless(bundled)).toEqual(timeless(reference));
    expect(bundled.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  }, 60_000);
});
