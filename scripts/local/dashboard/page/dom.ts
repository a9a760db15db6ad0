/// <reference lib="dom" />
/**
 * The few DOM helpers the dashboard page needs. Everything the server sends is put in the page as text
 * (`textContent`, never `innerHTML`): dead-letter previews and preview events are whatever a producer wrote.
 */

export type Child = Node | string | null | undefined | false;

/** An element with attributes and children; falsy children are skipped. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

/** The element with that id; the page's own HTML has every one the script uses. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** How a value nobody measured reads: never 0. */
export const unknown = (): HTMLSpanElement => h('span', { class: 'unknown' }, 'unknown');

/** `14:03:07`, in the viewer's time zone. */
export function clock(epochMs: number): string {
  return new Date(epochMs).toLocaleTimeString([], { hour12: false });
}

/** A number for a person: a few significant digits, thousands grouped. */
export function num(value: number, digits = 1): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: Math.abs(value) >= 100 ? 0 : digits });
}

export function bytes(value: number): string {
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${num(value / 1024)} KiB`;
  return `${num(value / (1024 * 1024))} MiB`;
}
