// The dashboard: per queue, the live figures of `GET /api/queues/{id}/metrics`
// (replaced whenever a `queue:metrics_updated` arrives in the queue's room:
// a latest value, nothing to resume) and an SVG chart of the last 24 hourly
// buckets, drawn here.

import * as api from './api.js';
import { duration, h, label, replace } from './dom.js';

const HOUR = 3600;
const SERIES = [
  ['created', 'Created', 'series-created'],
  ['first_assigned', 'First assigned', 'series-assigned'],
  ['resolved', 'Resolved', 'series-resolved'],
];
/** Hourly buckets are read again at most this often per queue. */
const HOURLY_EVERY_MS = 2000;

export class DashboardView {
  /** @param {{queues: Array, latest: Map<string, object>}} options latest: figures already pushed */
  constructor({ queues, latest }) {
    this.queues = queues;
    this.cards = new Map();
    this.element = h(
      'section',
      { class: 'dashboard-view', 'aria-labelledby': 'dash-title', testid: 'dashboard' },
      h('div', { class: 'view-head' }, h('h1', { id: 'dash-title', text: 'Dashboard' }), h('p', { class: 'hint', text: 'Live figures per queue; they update as tickets change.' })),
      queues.length
        ? h('div', { class: 'queue-grid' }, queues.map((q) => this.card(q)))
        : h('p', { class: 'notice', text: 'You work on no queue yet.' }),
    );
    for (const q of queues) {
      const known = latest.get(q.id);
      if (known) this.showFigures(q.id, known);
      api.queueMetrics(q.id).then((figures) => this.showFigures(q.id, figures), (error) => this.failed(q.id, error));
      this.loadHourly(q.id);
    }
  }

  destroy() {
    for (const card of this.cards.values()) clearTimeout(card.hourlyTimer);
  }

  card(queue) {
    const figures = h('div', { class: 'figures', testid: 'figures' }, h('p', { class: 'loading', text: 'Loading…' }));
    const chart = h('div', { class: 'chart', testid: 'hourly-chart' });
    const updated = h('p', { class: 'updated hint', testid: 'metrics-updated' });
    const element = h(
      'article',
      { class: 'panel queue-card', testid: 'queue-card', dataset: { queueId: queue.id }, 'aria-labelledby': `q-${queue.id}` },
      h('header', { class: 'queue-head' }, h('h2', { id: `q-${queue.id}`, text: queue.name ?? queue.id }), updated),
      figures,
      h('h3', { class: 'chart-title', text: 'Last 24 hours' }),
      chart,
    );
    this.cards.set(queue.id, { element, figures, chart, updated, computedAt: null, hourlyAt: 0 });
    return element;
  }

  /** A `queue:metrics_updated` for one of our queues. */
  onMetrics(queueId, figures) {
    if (!this.cards.has(queueId)) return;
    this.showFigures(queueId, figures);
    this.loadHourly(queueId);
  }

  failed(queueId, error) {
    const card = this.cards.get(queueId);
    if (card && !card.computedAt) replace(card.figures, h('p', { class: 'form-error', text: `Not loaded: ${error.detail || error.message}` }));
  }

  showFigures(queueId, m) {
    const card = this.cards.get(queueId);
    if (!card) return;
    // An older answer (a slow GET) must not overwrite a newer push.
    if (card.computedAt && Date.parse(m.computed_at) < Date.parse(card.computedAt)) return;
    card.computedAt = m.computed_at;
    card.element.dataset.openTotal = String(m.open_total);
    card.updated.textContent = `Updated ${new Date(m.computed_at).toLocaleTimeString()}`;
    const slaBreached = m.sla.total > 0;
    replace(
      card.figures,
      h(
        'dl',
        { class: 'kpis' },
        kpi('Open', m.open_total, 'open-total'),
        kpi('Unassigned', m.unassigned_open, 'unassigned'),
        kpi('SLA breaches', m.sla.total, 'sla-breaches', slaBreached ? 'bad' : 'good', `${m.sla.late_first_assignment} assigned late, ${m.sla.unassigned_past_target} waiting past target`),
        kpi('Oldest open', m.oldest_open_age_secs === null ? '–' : duration(m.oldest_open_age_secs), 'oldest'),
      ),
      h(
        'div',
        { class: 'breakdowns' },
        breakdown('Open by status', [['open', m.open_by_status.open], ['in_progress', m.open_by_status.in_progress], ['waiting', m.open_by_status.waiting]], 'status', 'by-status'),
        breakdown('Open by priority', [['urgent', m.open_by_priority.urgent], ['high', m.open_by_priority.high], ['medium', m.open_by_priority.medium], ['low', m.open_by_priority.low]], 'priority', 'by-priority'),
      ),
      h(
        'dl',
        { class: 'durations' },
        h('div', {}, h('dt', { text: 'Time to first assignment' }), h('dd', { testid: 'first-assignment' }, stats(m.first_assignment))),
        h('div', {}, h('dt', { text: 'Resolution time' }), h('dd', { testid: 'resolution' }, stats(m.resolution))),
        h('div', {}, h('dt', { text: 'Today' }), h('dd', { text: `${m.created_today} created, ${m.resolved_today} resolved` })),
      ),
    );
  }

  /** Reads the hourly buckets again, at most once per HOURLY_EVERY_MS. */
  loadHourly(queueId) {
    const card = this.cards.get(queueId);
    if (!card || card.hourlyTimer) return;
    const wait = Math.max(0, card.hourlyAt + HOURLY_EVERY_MS - Date.now());
    card.hourlyTimer = setTimeout(async () => {
      card.hourlyTimer = null;
      card.hourlyAt = Date.now();
      const to = Math.floor(Date.now() / 1000 / HOUR + 1) * HOUR; // the end of this hour
      const from = to - 24 * HOUR;
      try {
        const buckets = await api.queueHourly(queueId, from, to);
        replace(card.chart, chart(buckets, from, to));
      } catch (error) {
        replace(card.chart, h('p', { class: 'form-error', text: `Chart not loaded: ${error.detail || error.message}` }));
      }
    }, wait);
  }
}

function kpi(name, value, testid, tone, title) {
  return h('div', { class: `kpi${tone ? ` ${tone}` : ''}`, title }, h('dt', { text: name }), h('dd', { testid, text: String(value) }));
}

function stats(s) {
  if (!s || s.count === 0) return 'no data yet';
  return `median ${duration(s.median_secs)}, mean ${duration(s.mean_secs)} (${s.count})`;
}

/** A labelled horizontal bar per value; bar widths are set through CSSOM (the CSP forbids style attributes). */
function breakdown(title, pairs, kind, testid) {
  const max = Math.max(1, ...pairs.map(([, n]) => n));
  return h(
    'div',
    { class: 'breakdown', testid },
    h('h3', { text: title }),
    h(
      'ul',
      {},
      pairs.map(([name, n]) => {
        const bar = h('span', { class: `bar ${kind}-${name}` });
        bar.style.width = `${(n / max) * 100}%`;
        return h('li', { dataset: { key: name } }, h('span', { class: 'bar-label', text: label(name) }), h('span', { class: 'bar-track', 'aria-hidden': 'true' }, bar), h('span', { class: 'bar-value', text: String(n) }));
      }),
    ),
  );
}

/**
 * The 24 hourly buckets in [from, to) as grouped bars (counts per hour are
 * discrete). Hours without a bucket had no activity (the API leaves them
 * out) and count as 0.
 */
function chart(buckets, from, to) {
  const hours = [];
  for (let t = from; t < to; t += HOUR) hours.push(t);
  const byHour = new Map(buckets.map((b) => [b.hour_unix, b]));
  const rows = hours.map((t) => byHour.get(t) ?? { hour_unix: t, created: 0, first_assigned: 0, resolved: 0 });
  const max = Math.max(1, ...rows.flatMap((r) => SERIES.map(([key]) => r[key])));
  const W = 480;
  const H = 140;
  const pad = { left: 28, right: 6, top: 8, bottom: 20 };
  const slot = (W - pad.left - pad.right) / hours.length;
  const bar = (slot * 0.8) / SERIES.length;
  const y = (v) => pad.top + (1 - v / max) * (H - pad.top - pad.bottom);
  const totals = Object.fromEntries(SERIES.map(([key]) => [key, rows.reduce((sum, r) => sum + r[key], 0)]));
  const summary = `Last 24 hours: ${totals.created} created, ${totals.first_assigned} first assigned, ${totals.resolved} resolved.`;
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary, class: 'hourly', preserveAspectRatio: 'xMidYMid meet' });
  svg.append(h('svg:title', { text: summary }));
  // Grid: zero, half and max lines with their values (whole numbers only).
  for (const v of new Set([0, Math.round(max / 2), max])) {
    svg.append(h('svg:line', { x1: pad.left, x2: W - pad.right, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(h('svg:text', { x: pad.left - 5, y: y(v) + 3.5, class: 'axis', 'text-anchor': 'end', text: String(v) }));
  }
  rows.forEach((r, i) => {
    const x0 = pad.left + i * slot + slot * 0.1;
    SERIES.forEach(([key, name, cls], j) => {
      if (r[key] === 0) return;
      const rect = h('svg:rect', { x: (x0 + j * bar).toFixed(1), y: y(r[key]).toFixed(1), width: Math.max(1, bar - 0.6).toFixed(1), height: (y(0) - y(r[key])).toFixed(1), class: `bar-svg ${cls}`, dataset: { series: key } });
      rect.append(h('svg:title', { text: `${new Date(r.hour_unix * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}: ${r[key]} ${name.toLowerCase()}` }));
      svg.append(rect);
    });
    // Hour labels every 6 hours, in local time.
    if (i % 6 === 0) {
      const text = new Date(r.hour_unix * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      svg.append(h('svg:text', { x: pad.left + i * slot, y: H - 5, class: 'axis', 'text-anchor': 'start', text }));
    }
  });
  svg.append(h('svg:text', { x: W - pad.right, y: H - 5, class: 'axis', 'text-anchor': 'end', text: 'now' }));
  const legend = h('ul', { class: 'legend' }, SERIES.map(([key, name, cls]) => h('li', {}, h('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), `${name} (${totals[key]})`)));
  return h('figure', { class: 'chart-figure' }, svg, h('figcaption', {}, legend));
}
