/**
 * The health server's dashboard routes over real HTTP (node:http clients, so Host and Origin can be set):
 * what a browser on this machine may do, what another site's page may not, and that a too-large preview is
 * answered, not reset. The dashboard's handlers are stand-ins that record what reached them: the routes, not
 * the telemetry or the preview, are under test here.
 */
import { request as httpRequest } from 'node:http';
import type { DashboardHandlers } from '../../../scripts/local/dashboard/index.ts';
import { type HealthServer, startHealthServer } from '../../../scripts/local/event-source/health.ts';
import type { EnrichRunner } from '../../../scripts/local/event-source/runner.ts';

let server: HealthServer;
const previews: Buffer[] = [];
const dashboard: DashboardHandlers = {
  snapshot: () => ({ now: 1 }) as unknown as ReturnType<DashboardHandlers['snapshot']>,
  preview: async (body) => {
    previews.push(body);
    return { status: 200, body: { published: false } };
  },
  asset: async (path) => (path === '/' ? { type: 'text/html; charset=utf-8', body: '<!doctype html><title>t</title>' } : undefined),
};

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with the headers given (Host included), the body streamed as given. */
function send(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, method, path, headers, setHost: headers.host === undefined }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

beforeAll(async () => {
  server = await startHealthServer({ runner: {} as EnrichRunner, port: 0, dashboard });
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  previews.length = 0;
});

const json = { 'content-type': 'application/json' };

describe('the dashboard routes', () => {
  it('serve the page with a policy that lets it load only its own script, style and data', async () => {
    const page = await send('GET', '/', {});
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
  });

  it('hand the preview the body as it was sent, byte for byte', async () => {
    const body = Buffer.from('{"level":"INFO","message":"big","timeUnixNano":1733000000123456789}');
    const answer = await send('POST', '/api/enrich/preview', { ...json, origin: server.url }, body);
    expect(answer.status).toBe(200);
    expect(previews).toEqual([body]);
  });

  it('answer a preview larger than 1 MiB with 413, read to its end (a client sees the answer, not a reset)', async () => {
    // Prepare: no Content-Length (chunked), so the limit is found while reading, not from the header
    const big = Buffer.alloc(2 * 1024 * 1024, 0x20);
    const answer = await send('POST', '/api/enrich/preview', { ...json, 'transfer-encoding': 'chunked' }, big);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).message).toMatch(/larger than 1048576 bytes/);
    expect(previews).toEqual([]);
  });

  it('refuse a declared Content-Length over the limit before reading', async () => {
    const answer = await send('POST', '/api/enrich/preview', { ...json, 'content-length': String(2 * 1024 * 1024) }, Buffer.alloc(2 * 1024 * 1024));
    expect(answer.status).toBe(413);
  });

  it('answer a body that is not JSON with 400 and one not sent as JSON with 415', async () => {
    expect((await send('POST', '/api/enrich/preview', json, Buffer.from('{oops'))).status).toBe(400);
    expect((await send('POST', '/api/enrich/preview', { 'content-type': 'text/plain' }, Buffer.from('{}'))).status).toBe(415);
    expect(previews).toEqual([]);
  });

  it.each([
    ['a DNS name rebound to this machine', { host: 'attacker.example:8081' }],
    ['a page of another site', { origin: 'https://attacker.example' }],
    ['an opaque origin (a sandboxed frame, a file)', { origin: 'null' }],
  ])('refuse %s with 403, for the data and for the preview', async (_what, headers) => {
    expect((await send('GET', '/api/dashboard', headers)).status).toBe(403);
    expect((await send('POST', '/api/enrich/preview', { ...json, ...headers }, Buffer.from('{}'))).status).toBe(403);
    expect(previews).toEqual([]);
  });

  it('answer this machine under either loopback name', async () => {
    const { port } = new URL(server.url);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      expect((await send('GET', '/api/dashboard', { host, origin: `http://${host}` })).status).toBe(200);
    }
  });
});
