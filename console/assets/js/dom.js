// Small DOM and formatting helpers shared by every view.
//
// Everything the server sends (titles, comments, names) is put on the page
// as text nodes, never as HTML: a ticket title cannot inject markup, and the
// console needs no sanitizer.

/**
 * Creates an element. `props` keys:
 * - `class`: class names; `text`: text content;
 * - `on`: `{event: handler}`;
 * - `dataset`: `{key: value}` for data-* attributes;
 * - `testid`: the stable `data-testid` the browser test uses;
 * - anything else is set as an attribute (`false`/`null`/`undefined` skip it,
 *   `true` sets it empty, so boolean attributes read naturally).
 */
export function h(tag, props = {}, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.setAttribute('class', value);
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'testid') el.dataset.testid = value;
    else if (key === 'on') for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'value' && 'value' in el) el.value = value;
    else if (key === 'checked' && 'checked' in el) el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let counter = 0;
/** A page-unique id for label/aria wiring. */
export function uid(prefix = 'id') {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A `<select>` of `[value, label]` pairs. */
export function select(options, value, props = {}) {
  return h('select', props, options.map(([v, label]) => h('option', { value: v, selected: v === value, text: label })));
}

// ---- formatting -------------------------------------------------------------

const UNITS = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];

/** "3m", "2h", "5d": compact ages for cards. */
export function shortDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  for (const [unit, size] of UNITS) if (s >= size) return `${Math.floor(s / size)}${unit}`;
  return '0s';
}

/** "1h 5m": durations in the dashboard. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const parts = [];
  let rest = s;
  for (const [unit, size] of UNITS.slice(0, 3)) {
    const n = Math.floor(rest / size);
    if (n > 0 || parts.length) parts.push(`${n}${unit}`);
    rest -= n * size;
    if (parts.length === 2) break;
  }
  return parts.filter((p) => !p.startsWith('0')).join(' ') || '0m';
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
export function dateTime(iso) {
  const date = iso instanceof Date ? iso : new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : timeFormat.format(date);
}

/** "in_progress" → "In progress". */
export function label(name) {
  if (!name) return '';
  const text = String(name).replaceAll('_', ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * When a ticket was created. List rows carry `created_at`; a ticket that
 * arrives over the live feed does not, but its id is a UUIDv7 minted when it
 * was created, whose first 48 bits are that instant in Unix milliseconds.
 */
export function createdMs(ticket) {
  if (ticket.created_at) return Date.parse(ticket.created_at);
  const hex = String(ticket.id ?? '').replaceAll('-', '').slice(0, 12);
  const ms = Number.parseInt(hex, 16);
  return Number.isFinite(ms) && String(ticket.id).charAt(14) === '7' ? ms : Date.now();
}

const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#x27;': "'" };

/**
 * A search snippet as nodes: the API sends it HTML-escaped with the
 * matches in `<mark>`; only those marks become elements, everything else
 * stays text (no HTML is parsed).
 */
export function snippetNodes(snippet) {
  const nodes = [];
  let marked = false;
  for (const part of String(snippet ?? '').split(/(<mark>|<\/mark>)/)) {
    if (part === '<mark>' || part === '</mark>') {
      marked = part === '<mark>';
      continue;
    }
    const text = part.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (entity) => ENTITIES[entity]);
    if (text) nodes.push(marked ? h('mark', { text }) : document.createTextNode(text));
  }
  return nodes;
}

/** "in 2h", "3d ago": a due time relative to now. */
export function relative(iso) {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  if (Number.isNaN(seconds)) return '–';
  return seconds >= 0 ? `in ${shortDuration(seconds)}` : `${shortDuration(-seconds)} ago`;
}
