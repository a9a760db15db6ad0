/**
 * Writes layers/shared/src/otlp/gen/, the Protobuf-ES types of the OTLP logs signal, from the official
 * `.proto` files vendored in layers/shared/proto/ (README there: tag, commit, how to update). `buf` and
 * `protoc-gen-es` come from node_modules (devDependencies): no remote plugin and no network. The output is
 * JavaScript with declaration files (`target=js+dts`): Node runs the project's TypeScript by stripping types,
 * which cannot strip the `enum`s a `target=ts` file declares.
 *
 * tests/unit/otlp/codegen.test.ts fails when the committed files are not what this writes.
 *
 *   npm run schema:otlp     # after updating the vendored .proto files (or upgrading @bufbuild/protoc-gen-es)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROTO_DIR = fileURLToPath(new URL('../layers/shared/proto/', import.meta.url));
/** Where buf.gen.yaml's `out: gen` lands when generating into the repository. */
export const OTLP_OUTPUT_BASE = fileURLToPath(new URL('../layers/shared/src/otlp/', import.meta.url));
export const GENERATED_DIR = join(OTLP_OUTPUT_BASE, 'gen');
const BIN = fileURLToPath(new URL('../node_modules/.bin/', import.meta.url));

/** Runs `buf generate` into `outputBase` (its `gen/` is replaced). */
export function generateOtlp(outputBase: string): void {
  rmSync(join(outputBase, 'gen'), { recursive: true, force: true });
  execFileSync(join(BIN, 'buf'), ['generate', '--output', outputBase], {
    cwd: PROTO_DIR,
    stdio: ['ignore', 'inherit', 'inherit'],
    // protoc-gen-es is found on PATH, from node_modules/.bin, whoever runs this.
    env: { ...process.env, PATH: `${BIN}:${process.env.PATH ?? ''}` },
  });
}

/** Generates into a fresh temporary directory and returns its `gen/` (the caller removes the directory). */
export function generateOtlpToTemp(): { dir: string; gen: string } {
  const dir = mkdtempSync(join(tmpdir(), 'otlp-gen-'));
  generateOtlp(dir);
  return { dir, gen: join(dir, 'gen') };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  generateOtlp(OTLP_OUTPUT_BASE);
  process.stdout.write(`wrote ${GENERATED_DIR}\n`);
}
