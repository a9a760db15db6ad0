/**
 * The local dashboard (`npm start`, served by the enrich runner's health server at http://127.0.0.1:8081/):
 * - telemetry.ts samples the runner every second into the series the page charts, and keeps the partial
 *   reasons and last dead letters from what enrich publishes (a tap on its publisher);
 * - preview.ts answers "why is this log partial?": one log through the pipeline's own decode, lookup and
 *   merge, nothing published;
 * - page.ts serves the page and its script, bundled with esbuild from page/ (uPlot, no CDN).
 * The JSON of both APIs is typed in contract.ts.
 */
import type { DashboardSnapshot } from './contract.ts';

export const SNAPSHOT_PATH = '/api/dashboard';
export const PREVIEW_PATH = '/api/enrich/preview';

/** What the health server needs of the dashboard. */
export interface DashboardHandlers {
  snapshot(): DashboardSnapshot;
  /** One JSON body, as received (bytes) → the status and body to answer (PreviewResponse or PreviewRejection). */
  preview(body: Buffer): Promise<{ status: number; body: unknown }>;
  /** A page asset by path (`/`, `/dashboard.js`, …); undefined for none. */
  asset(path: string): Promise<{ type: string; body: string | Buffer } | undefined>;
}
