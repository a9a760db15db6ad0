/// <reference lib="dom" />
/** The dashboard's text panels: totals, breaker states, partial reasons, last dead letters. */
import type { BreakerState, DashboardSnapshot } from '../contract.ts';
import { byId, bytes, type Child, clock, h, num, unknown } from './dom.ts';

export const STATE_LABELS: Record<BreakerState, string> = { closed: 'closed', halfOpen: 'half-open', open: 'open' };

const orUnknown = (value: number | string | null): Child => (value === null ? unknown() : typeof value === 'number' ? num(value, 0) : value);

/** Coordinates are identifiers, not amounts: no thousands separators. */
const plain = (value: number | null): string | null => (value === null ? null : String(value));

export function renderTotals(snapshot: DashboardSnapshot): void {
  const { totals, memory } = snapshot;
  const item = (label: string, value: Child, className?: string) =>
    h('div', {}, h('dt', {}, label), h('dd', className === undefined ? {} : { class: className }, value));
  byId('totals').replaceChildren(
    item('Status', snapshot.status, `status-${snapshot.status}`),
    item('Complete', orUnknown(totals.complete)),
    item('Partial', orUnknown(totals.partial)),
    item('Dead-lettered', orUnknown(totals.deadLettered)),
    item('Ingest accepted', orUnknown(totals.ingestAccepted)),
    item('Ingest rejected', orUnknown(totals.ingestRejected)),
    item('In-process cache', `${num(memory.entries, 0)} / ${num(memory.maxEntries, 0)} entries, ${bytes(memory.bytes)}`),
  );
}

export function renderBreakers(snapshot: DashboardSnapshot): void {
  const list = byId('breaker-states');
  if (snapshot.breakers.length === 0) {
    list.replaceChildren(h('li', { class: 'unknown' }, 'no breakers reported yet'));
    return;
  }
  list.replaceChildren(
    ...snapshot.breakers.map((breaker) =>
      h(
        'li',
        { class: `state-${breaker.state}`, 'data-breaker': breaker.name, 'data-state': breaker.state },
        `${breaker.name}: ${STATE_LABELS[breaker.state]}`,
        breaker.state !== 'closed' && breaker.openedAt !== null ? ` since ${clock(breaker.openedAt)}` : '',
      ),
    ),
  );
}

export function renderPartialReasons(snapshot: DashboardSnapshot): void {
  const { partialReasons, partialSeen, partialSampled, totals } = snapshot;
  byId('partial-note').textContent = partialSampled
    ? `(sampled: counts from ${num(partialSeen, 0)} of ${num(totals.partial, 0)} partial logs)`
    : `(all ${num(partialSeen, 0)} partial logs since the runner started)`;
  const body = byId<HTMLTableElement>('partial-reasons').tBodies[0];
  if (body === undefined) return;
  if (partialReasons.length === 0) {
    body.replaceChildren(h('tr', {}, h('td', { class: 'empty', colspan: '3' }, 'no partial logs yet')));
    return;
  }
  body.replaceChildren(
    ...partialReasons.map((row) =>
      h('tr', {}, h('td', {}, h('code', {}, row.field)), h('td', {}, row.reason), h('td', { class: 'num' }, num(row.count, 0))),
    ),
  );
}

export function renderDeadLetters(snapshot: DashboardSnapshot): void {
  const body = byId<HTMLTableElement>('dead-letters').tBodies[0];
  if (body === undefined) return;
  if (snapshot.deadLetters.length === 0) {
    body.replaceChildren(h('tr', {}, h('td', { class: 'empty', colspan: '5' }, 'no dead letters since the runner started')));
    return;
  }
  body.replaceChildren(
    ...snapshot.deadLetters.map((letter) =>
      h(
        'tr',
        {},
        h('td', {}, clock(letter.at)),
        h('td', {}, letter.reason),
        h('td', {}, orUnknown(letter.topic), ' / ', orUnknown(plain(letter.partition)), ' / ', orUnknown(plain(letter.offset))),
        h('td', {}, orUnknown(letter.problem)),
        // null here is "the record had no value", which the contract tells apart from unknown.
        h(
          'td',
          { class: 'mono' },
          letter.preview === null ? h('span', { class: 'unknown' }, '(no value)') : letter.preview === '' ? h('span', { class: 'unknown' }, '(empty)') : letter.preview,
        ),
      ),
    ),
  );
}
