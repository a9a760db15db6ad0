/**
 * Serves the local dashboard page: `/` (page/index.html), `/dashboard.js` (page/main.ts and uPlot, bundled by
 * esbuild as one ES module) and `/dashboard.css` (page/styles.css with uPlot's stylesheet). Nothing comes from
 * a CDN and nothing is fetched at run time: uPlot is a devDependency bundled from node_modules.
 *
 * The bundle is built once, on the first request for any asset, and kept in memory: a runner that nobody
 * opens the page of never pays for it (0.1–0.3 s on this project's 2-core machines, once).
 * `platform: 'browser'` makes esbuild refuse a Node built-in, so server code reaching the page through an
 * import fails the build rather than shipping (the page imports only types from contract.ts).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));

export interface PageAsset {
  type: string;
  body: string | Buffer;
}

export interface Page {
  /** A page asset by request path (`/`, `/dashboard.js`, `/dashboard.css`); undefined for any other path. */
  asset(path: string): Promise<PageAsset | undefined>;
}

export interface PageOptions {
  /** Told how long the bundle took, once; default silent. */
  log?: (line: string) => void;
}

/**
 * @example
 * const page = createPage();
 * await startHealthServer({ runner, dashboard: { snapshot, preview, asset: (path) => page.asset(path) } });
 * // http://127.0.0.1:8081/
 */
export function createPage(options: PageOptions = {}): Page {
  let assets: Promise<Map<string, PageAsset>> | undefined;
  const load = () => {
    assets ??= bundle(options.log).catch((error: unknown) => {
      // A failed build is not remembered: the next request tries again (say, after a fix under `npm start`).
      assets = undefined;
      throw error;
    });
    return assets;
  };
  return {
    async asset(path) {
      if (!ASSET_PATHS.has(path)) return undefined;
      return (await load()).get(path);
    },
  };
}

const ASSET_PATHS = new Set(['/', '/index.html', '/dashboard.js', '/dashboard.css']);

async function bundle(log: ((line: string) => void) | undefined): Promise<Map<string, PageAsset>> {
  const started = performance.now();
  const [html, result] = await Promise.all([
    readFile(`${PAGE_DIR}index.html`, 'utf8'),
    build({
      entryPoints: [
        { in: `${PAGE_DIR}main.ts`, out: 'dashboard' },
        { in: `${PAGE_DIR}styles.css`, out: 'dashboard' },
      ],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      // Current Chromium and Firefox; what the page uses (private fields, AbortSignal.timeout) is older.
      target: ['chrome120', 'firefox120'],
      // Only the paths matter with write: false; the files never reach the disk.
      outdir: `${PAGE_DIR}out`,
      minify: true,
      legalComments: 'eof',
      logLevel: 'silent',
    }),
  ]);
  const output = (extension: string) => {
    const file = result.outputFiles.find((candidate) => candidate.path.endsWith(`dashboard${extension}`));
    if (file === undefined) throw new Error(`the dashboard bundle has no dashboard${extension}`);
    return file.text;
  };
  const page: PageAsset = { type: 'text/html; charset=utf-8', body: html };
  const assets = new Map<string, PageAsset>([
    ['/', page],
    ['/index.html', page],
    ['/dashboard.js', { type: 'text/javascript; charset=utf-8', body: output('.js') }],
    ['/dashboard.css', { type: 'text/css; charset=utf-8', body: output('.css') }],
  ]);
  log?.(`dashboard page bundled in ${Math.round(performance.now() - started)} ms`);
  return assets;
}
