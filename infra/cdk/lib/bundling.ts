/**
 * How every function of the app is bundled: one source of truth for the house construct (NodejsFunction)
 * and for `scripts/bundle-sizes.ts` (esbuild's API), so the sizes it prints are the sizes that deploy.
 *
 * `layers/shared` is bundled into each function rather than published as a Lambda layer: esbuild follows the
 * `#shared/*` imports and tree-shakes what a function does not use, a layer would ship all of it to every
 * function, add a second version to keep in step, and hide the code from the bundler's dead-code removal.
 */
import type { BuildOptions } from 'esbuild';
import { OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BundlingOptions, ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';

/** Node major of the Lambda runtime (`nodejs24.x`) and of the esbuild target. */
export const NODE_TARGET = 'node24';

/**
 * ESM bundles that inline CommonJS packages (ioredis, pg) need a `require`. @platformatic/kafka's bundle
 * already imports `createRequire`, so the banner binds it under another name (docs/toolchain.md).
 */
export const CJS_REQUIRE_BANNER =
  "import { createRequire as __cjsRequire } from 'module'; const require = __cjsRequire(import.meta.url);";

/**
 * Import paths esbuild substitutes in every bundle (esbuild's aliases are global, not per importer).
 * - @platformatic/kafka loads a wasm file by relative URL; the `bundled` entry inlines it.
 * - aws-msk-iam-sasl-signer-js is CommonJS and requires `@aws-sdk/credential-providers` (all providers, the
 *   Cognito client, bowser) and `@aws-sdk/client-sts` (for its `awsDebugCreds` log) at the top of its
 *   modules: about 480 KiB of each Kafka bundle for the one provider chain it uses. The project's modules
 *   give it that chain alone and fail clearly on the paths left out (docs/toolchain.md). Nothing else in the
 *   bundles imports these two packages (tests/unit/infra/bundles.test.ts checks).
 *
 * Relative targets are resolved in esbuild's working directory: the repository root for NodejsFunction
 * (its `projectRoot`, locally and in Docker) and for scripts/bundle-sizes.ts (`absWorkingDir`).
 */
export const ESBUILD_ALIASES: Readonly<Record<string, string>> = {
  '@platformatic/wasm-utils': '@platformatic/wasm-utils/bundled',
  '@aws-sdk/credential-providers': './layers/shared/src/kafka/signer-deps/credential-providers.ts',
  '@aws-sdk/client-sts': './layers/shared/src/kafka/signer-deps/client-sts.ts',
};

/**
 * Bundled, not external: the AWS SDK too. The runtime's copy of `@aws-sdk/*` is whatever version AWS ships
 * that week; bundling runs in Lambda exactly the versions the lock file pins and the tests ran.
 */
export const EXTERNAL_MODULES: readonly string[] = [];

/**
 * The source map carries mappings only, not the sources' text: Lambda runs with `--enable-source-maps`, which
 * reads and parses the whole map at import (about 50 ms of enrich's cold start with the sources inside, a map
 * four times larger), and stack traces need the mappings alone.
 */
export const SOURCES_CONTENT = false;

/** NodejsFunction bundling options; `commandHooks` lets a function copy files next to its bundle. */
export function nodejsBundling(commandHooks?: ICommandHooks): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: NODE_TARGET,
    minify: true,
    sourceMap: true,
    sourceMapMode: SourceMapMode.DEFAULT,
    sourcesContent: SOURCES_CONTENT,
    mainFields: ['module', 'main'],
    banner: CJS_REQUIRE_BANNER,
    externalModules: [...EXTERNAL_MODULES],
    esbuildArgs: Object.fromEntries(
      Object.entries(ESBUILD_ALIASES).map(([from, to]) => [`--alias:${from}`, to] as const),
    ),
    ...(commandHooks === undefined ? {} : { commandHooks }),
  };
}

/** The same bundle as `nodejsBundling`, as esbuild API options (what NodejsFunction passes on its CLI). */
export function esbuildOptions(entry: string, outfile: string): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: NODE_TARGET,
    minify: true,
    sourcemap: true,
    sourcesContent: SOURCES_CONTENT,
    mainFields: ['module', 'main'],
    banner: { js: CJS_REQUIRE_BANNER },
    external: [...EXTERNAL_MODULES],
    alias: { ...ESBUILD_ALIASES },
  };
}
