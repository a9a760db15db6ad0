/**
 * Makes a Chromium available for the browser test of the local dashboard (tests/integration/dashboard/):
 * Debian's `chromium` package at /usr/bin/chromium, driven by `playwright-core` through its `executablePath`.
 * No browser is downloaded: playwright-core has no install script, and nothing here calls
 * `playwright install`; the browser comes from the distribution's package manager like kcat does.
 *
 * Where it is missing and we are root (CI containers, this project's machines): `apt-get install -y chromium`,
 * and when that fails for want of a package list, `apt-get update` and once more. Otherwise it fails with a
 * message that says how to install it, or to point CHROMIUM at a Chromium or Chrome of one's own. Called by
 * tests/integration/global-setup.ts; runnable on its own:
 *
 *   node scripts/ensure-chromium.ts
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The browser the tests drive: CHROMIUM when set, else Debian's package. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

const HOW_TO_INSTALL =
  'install it and run again: Debian/Ubuntu `sudo apt-get update && sudo apt-get install -y chromium`, Fedora `sudo dnf install chromium`; or set CHROMIUM to the path of a Chromium or Chrome';

/** `Chromium 139.0.… built on Debian …` from `chromium --version`, or undefined when it does not run. */
export function chromiumVersion(): string | undefined {
  const result = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (result.error !== undefined || result.status !== 0) return undefined;
  return result.stdout.trim() || 'Chromium (version unknown)';
}

function apt(args: string[], log: (line: string) => void): boolean {
  log(`apt-get ${args.join(' ')}`);
  const result = spawnSync('apt-get', args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    // Chromium and its libraries are a few hundred MB: the output is long, keep only its tail.
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) log(`apt-get ${args[0]} failed (${result.error?.message ?? `exit ${result.status}`}): ${(result.stderr ?? '').trim().split('\n').slice(-2).join(' ')}`);
  return result.status === 0;
}

/**
 * @returns the path of the Chromium to launch (for playwright-core's `executablePath`).
 * @throws Error naming how to install Chromium when it is missing and cannot be installed here.
 * @example
 * const executablePath = ensureChromium((line) => console.log(`[chromium] ${line}`));
 * const browser = await chromium.launch({ executablePath, args: ['--headless=new'] });
 */
export function ensureChromium(log: (line: string) => void = () => undefined): string {
  if (chromiumVersion() !== undefined) return CHROMIUM;
  if (process.env.CHROMIUM !== undefined) throw new Error(`CHROMIUM=${CHROMIUM} does not run; ${HOW_TO_INSTALL}`);
  if (process.getuid?.() !== 0) throw new Error(`chromium is not installed and this is not root, so it cannot be installed here; ${HOW_TO_INSTALL}`);
  // `install` first: with a fresh package list it is all it takes, and `update` costs a round trip to the mirrors.
  // Without recommends: the browser test needs neither the sandbox helper packages nor the desktop extras.
  if (!apt(['install', '-y', '--no-install-recommends', 'chromium'], log)) {
    if (apt(['update'], log)) apt(['install', '-y', '--no-install-recommends', 'chromium'], log);
  }
  const installed = chromiumVersion();
  if (installed === undefined) throw new Error(`chromium is not installed and apt-get could not install it; ${HOW_TO_INSTALL}`);
  log(`installed ${installed}`);
  return CHROMIUM;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const path = ensureChromium((line) => console.log(`[chromium] ${line}`));
    console.log(`${chromiumVersion() ?? 'chromium'} at ${path}`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
