/**
 * The dashboard page as page.ts serves it: esbuild bundles page/main.ts with uPlot into one browser module
 * (nothing left to import, nothing of Node's), the HTML loads that module and the stylesheet, and any other
 * path is not the page's to answer. The page in a browser: tests/integration/dashboard/browser.test.ts.
 */
import { PREVIEW_PATH, SNAPSHOT_PATH } from '../../../scripts/local/dashboard/index.ts';
import { createPage, type PageAsset } from '../../../scripts/local/dashboard/page.ts';

const page = createPage();
const text = (asset: PageAsset | undefined) => (asset === undefined ? '' : asset.body.toString());

describe('createPage', () => {
  it('bundles the script into one browser module with no imports left and nothing of Node', async () => {
    // Act
    const script = await page.asset('/dashboard.js');

    // Assess
    expect(script?.type).toBe('text/javascript; charset=utf-8');
    const body = text(script);
    expect(body.length).toBeGreaterThan(10_000); // uPlot is in it
    expect(body).not.toMatch(/\bnode:[a-z]/);
    expect(body).not.toMatch(/\brequire\s*\(/);
    expect(body).not.toMatch(/(^|[;}\s])import\s*[\w{*"']|\bimport\s*\(|\bfrom\s*["']/);
    expect(body).not.toMatch(/process\.env|createServer|ioredis/);
  });

  it('polls and posts to the paths the health server routes', async () => {
    // Act
    const body = text(await page.asset('/dashboard.js'));

    // Assess
    expect(body).toContain(JSON.stringify(SNAPSHOT_PATH));
    expect(body).toContain(JSON.stringify(PREVIEW_PATH));
  });

  it('serves at / the HTML that loads the module script and the stylesheet', async () => {
    // Act
    const html = await page.asset('/');

    // Assess
    expect(html?.type).toBe('text/html; charset=utf-8');
    expect(text(html)).toContain('<script type="module" src="/dashboard.js"></script>');
    expect(text(html)).toContain('<link rel="stylesheet" href="/dashboard.css">');
    expect(text(await page.asset('/index.html'))).toBe(text(html));
  });

  it("bundles uPlot's stylesheet with the page's", async () => {
    // Act
    const css = await page.asset('/dashboard.css');

    // Assess
    expect(css?.type).toBe('text/css; charset=utf-8');
    expect(text(css)).toContain('.uplot');
    expect(text(css)).toContain('.banner');
    expect(text(css)).not.toContain('@import');
  });

  it.each(['/favicon.ico', '/page/main.ts', '/dashboard.js.map', '/../contract.ts', '/index.htm', ''])('answers undefined for %j', async (path) => {
    // Act
    const asset = await page.asset(path);

    // Assess
    expect(asset).toBeUndefined();
  });

  it('builds once and answers later requests from memory', async () => {
    // Prepare
    const lines: string[] = [];
    const fresh = createPage({ log: (line) => lines.push(line) });

    // Act
    const [first, second] = await Promise.all([fresh.asset('/dashboard.js'), fresh.asset('/dashboard.css')]);
    const again = await fresh.asset('/dashboard.js');

    // Assess
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect(again).toBe(first);
    expect(lines).toEqual([expect.stringMatching(/^dashboard page bundled in \d+ ms$/)]);
  });
});
