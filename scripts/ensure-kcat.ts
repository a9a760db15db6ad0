/**
 * Makes `kcat` (the librdkafka command-line producer and consumer) available: the integration tests produce
 * with it, because a record written by a Kafka producer that is not ours is what the log contract must accept.
 *
 * Where `kcat` is missing and we are root (CI containers, this project's machines): `apt-get install -y kcat`,
 * and when that fails for want of a package list, `apt-get update` and once more. Otherwise it fails with a
 * message that says how to install it. Called by tests/integration/global-setup.ts; runnable on its own:
 *
 *   node scripts/ensure-kcat.ts
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const KCAT = process.env.KCAT ?? 'kcat';

const HOW_TO_INSTALL =
  'install it and run again: Debian/Ubuntu `sudo apt-get update && sudo apt-get install -y kcat`, Fedora `sudo dnf install kcat`, macOS `brew install kcat`; or set KCAT to its path';

/** `kcat Version 1.7.1 (…)` from `kcat -V`, or undefined when kcat does not run. */
export function kcatVersion(): string | undefined {
  const result = spawnSync(KCAT, ['-V'], { encoding: 'utf8' });
  if (result.error !== undefined || result.status !== 0) return undefined;
  const version = result.stdout.split('\n').find((line) => line.startsWith('Version'));
  return `kcat ${(version ?? 'version unknown').trim()}`;
}

function apt(args: string[], log: (line: string) => void): boolean {
  log(`apt-get ${args.join(' ')}`);
  const result = spawnSync('apt-get', args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (result.status !== 0) log(`apt-get ${args[0]} failed (${result.error?.message ?? `exit ${result.status}`}): ${(result.stderr ?? '').trim().split('\n').slice(-2).join(' ')}`);
  return result.status === 0;
}

/**
 * @returns the version line of the kcat in use.
 * @throws Error naming how to install kcat when it is missing and cannot be installed here.
 * @example
 * const version = ensureKcat((line) => console.log(`[kcat] ${line}`));
 */
export function ensureKcat(log: (line: string) => void = () => undefined): string {
  const present = kcatVersion();
  if (present !== undefined) return present;
  if (KCAT !== 'kcat') throw new Error(`KCAT=${KCAT} does not run; ${HOW_TO_INSTALL}`);
  if (process.getuid?.() !== 0) throw new Error(`kcat is not installed and this is not root, so it cannot be installed here; ${HOW_TO_INSTALL}`);
  // `install` first: with a fresh package list it is all it takes, and `update` costs a round trip to the mirrors.
  if (!apt(['install', '-y', '--no-install-recommends', 'kcat'], log)) {
    if (apt(['update'], log)) apt(['install', '-y', '--no-install-recommends', 'kcat'], log);
  }
  const installed = kcatVersion();
  if (installed === undefined) throw new Error(`kcat is not installed and apt-get could not install it; ${HOW_TO_INSTALL}`);
  log(`installed ${installed}`);
  return installed;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    console.log(ensureKcat((line) => console.log(`[kcat] ${line}`)));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
