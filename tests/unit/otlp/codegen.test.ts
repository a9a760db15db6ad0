/**
 * The committed Protobuf-ES types of OTLP (layers/shared/src/otlp/gen/) are what scripts/otlp-codegen.ts
 * writes from the vendored official .proto files: a hand edit of a generated file, a .proto updated without
 * regenerating, or an upgraded protoc-gen-es all fail here (run `npm run schema:otlp`).
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { GENERATED_DIR, generateOtlpToTemp } from '../../../scripts/otlp-codegen.ts';

function files(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    found.set(relative(dir, path), readFileSync(path, 'utf8'));
  }
  return found;
}

describe('generated OTLP types', () => {
  it('are what npm run schema:otlp writes from layers/shared/proto', () => {
    const { dir, gen } = generateOtlpToTemp();
    try {
      const fresh = files(gen);
      const committed = files(GENERATED_DIR);
      expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
      // One file is enough to fail; every one is compared.
      for (const [name, text] of fresh) expect({ name, text: committed.get(name) }).toEqual({ name, text });
      expect(fresh.size).toBeGreaterThanOrEqual(8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
