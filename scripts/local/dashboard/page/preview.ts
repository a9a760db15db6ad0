/// <reference lib="dom" />
/**
 * "Why is this log partial?": the form posts one log to POST /api/enrich/preview and explains the answer:
 * where enrich would publish it, what is missing and why, and for each lookup key which tier answered or
 * what each tier did instead.
 */
import type { PreviewLookup, PreviewRejection, PreviewResponse, TierOutcome } from '../contract.ts';
import { byId, h } from './dom.ts';

/** The README's example log (the demo metadata has its host and service: a complete log). */
const EXAMPLE_LOG = {
  level: 'ERROR',
  message: 'Payment processing failed',
  service: 'payment-service',
  source_ip: '192.168.1.100',
};

export function setUpPreview(path: string): void {
  const form = byId<HTMLFormElement>('preview-form');
  const textarea = byId<HTMLTextAreaElement>('preview-log');
  const button = byId<HTMLButtonElement>('preview-button');
  const result = byId('preview-result');
  textarea.value = JSON.stringify(EXAMPLE_LOG, null, 2);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    button.disabled = true;
    result.setAttribute('aria-busy', 'true');
    preview(path, textarea.value)
      .then((nodes) => result.replaceChildren(...nodes))
      .finally(() => {
        button.disabled = false;
        result.removeAttribute('aria-busy');
      });
  });
}

/** The explanation of one preview, as nodes; never throws (a failure is explained too). */
async function preview(path: string, body: string): Promise<(Node | string)[]> {
  let response: Response;
  try {
    // Sent as typed: a body that is not JSON is the server's to reject (400, with its parser's message).
    response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    return [h('p', { class: 'error' }, `The enrich runner did not answer the preview (${error instanceof Error ? error.message : String(error)}).`)];
  }
  const answer: unknown = await response.json().catch(() => undefined);
  if (response.status === 200) return explain(answer as PreviewResponse);
  if (response.status === 422) return rejected(answer as PreviewRejection);
  const message = typeof answer === 'object' && answer !== null && 'message' in answer ? String(answer.message) : response.statusText;
  return [h('p', { class: 'error', 'data-status': String(response.status) }, `${response.status}: ${message}`)];
}

function explain(answer: PreviewResponse): (Node | string)[] {
  const missing = Object.entries(answer.missing);
  return [
    h(
      'p',
      { class: 'verdict', 'data-status': answer.status },
      h('span', { class: `pill pill-${answer.status}` }, answer.status),
      ' — enrich would publish it to ',
      h('code', {}, answer.topic),
      ' (nothing was published).',
    ),
    h('h3', {}, 'Missing fields'),
    missing.length === 0
      ? h('p', { class: 'muted' }, 'nothing: every field was found.')
      : h(
          'table',
          { id: 'preview-missing' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Reason'))),
          h('tbody', {}, ...missing.map(([field, reason]) => h('tr', {}, h('td', {}, h('code', {}, field)), h('td', {}, reason)))),
        ),
    h('h3', {}, 'Lookups'),
    answer.lookups.length === 0
      ? h('p', { class: 'muted' }, 'none: the log names no host, address or service to look up.')
      : h(
          'table',
          { id: 'preview-lookups' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col' }, 'Kind'),
              h('th', { scope: 'col' }, 'Key'),
              h('th', { scope: 'col' }, 'Answer'),
              h('th', { scope: 'col' }, 'Answered by'),
              h('th', { scope: 'col' }, 'What each tier did'),
            ),
          ),
          h('tbody', {}, ...answer.lookups.map(lookupRow)),
        ),
    h('h3', {}, 'Merged event'),
    h('pre', { id: 'preview-event' }, JSON.stringify(answer.event, null, 2)),
  ];
}

function lookupRow(lookup: PreviewLookup): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-kind': lookup.kind, 'data-state': lookup.state },
    h('td', {}, lookup.kind),
    h('td', {}, h('code', {}, lookup.key)),
    h('td', {}, lookup.state, lookup.stale ? ' (stale)' : ''),
    h('td', {}, lookup.answeredBy ?? h('span', { class: 'unknown' }, 'none')),
    h('td', {}, lookup.tiers.map(tierText).join(' → ')),
  );
}

function tierText(outcome: TierOutcome): string {
  const text = `${outcome.tier}: ${outcome.outcome.replace('_', ' ')}`;
  return 'detail' in outcome ? `${text} (${outcome.detail})` : text;
}

function rejected(answer: PreviewRejection): (Node | string)[] {
  return [
    h(
      'p',
      { class: 'verdict', 'data-status': 'rejected' },
      h('span', { class: 'pill pill-rejected' }, 'dead letter'),
      ` — ${answer.message} (reason ${answer.reason})`,
    ),
    h('h3', {}, 'Problems'),
    h(
      'table',
      { id: 'preview-problems' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Problem'))),
      h('tbody', {}, ...answer.problems.map((problem) => h('tr', {}, h('td', {}, h('code', {}, problem.field || '(the log)')), h('td', {}, problem.reason)))),
    ),
  ];
}
