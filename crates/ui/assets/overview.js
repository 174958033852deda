// Fleet → Overview: agents by status now, and over time (a sample a minute, kept a week).
import { api, h, query, showError } from './api.js';

const SVG = 'http://www.w3.org/2000/svg';

// The series drawn, in Kibana's status colours.
export const SERIES = [
  { key: 'online', label: 'Healthy', color: '#00745f' },
  { key: 'error', label: 'Unhealthy', color: '#bd271e' },
  { key: 'updating', label: 'Updating', color: '#0b64dd' },
  { key: 'offline', label: 'Offline', color: '#69707d' },
];

const RANGES = [
  { key: '1h', label: 'Last hour', ms: 3600e3 },
  { key: '24h', label: 'Last 24 hours', ms: 86400e3 },
  { key: '7d', label: 'Last 7 days', ms: 7 * 86400e3 },
];

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** A "nice" upper bound for the y axis: 1, 2 or 5 times a power of ten. */
export function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** The polyline points of one series over [from, to], in a width × height box. */
export function points(items, key, from, to, max, width, height) {
  return items.map((it) => {
    const x = ((Date.parse(it.timestamp) - from) / (to - from)) * width;
    const y = height - ((it[key] || 0) / max) * height;
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  }).join(' ');
}

function chart(items, from, to) {
  const width = 800;
  const height = 220;
  const pad = { left: 56, bottom: 24, top: 8, right: 8 };
  const max = niceMax(Math.max(1, ...items.flatMap((it) => SERIES.map((x) => it[x.key] || 0))));
  const last = items[items.length - 1];
  const label = last
    ? `Agents by status, ${items.length} samples. Latest: ${SERIES.map((x) => `${x.label} ${last[x.key] || 0}`).join(', ')}.`
    : 'Agents by status: no samples yet.';
  const grid = [0, 0.5, 1].map((f) => {
    const y = pad.top + height - f * height;
    return s('g', {},
      s('line', { x1: pad.left, x2: pad.left + width, y1: y, y2: y, stroke: '#d3dae6' }),
      s('text', { x: pad.left - 6, y: y + 4, 'text-anchor': 'end', 'font-size': 12, fill: '#5a6170' }, Math.round(max * f).toLocaleString()));
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const t = new Date(from + f * (to - from));
    const text = to - from > 86400e3 ? t.toLocaleDateString() : t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return s('text', { x: pad.left + f * width, y: pad.top + height + 18, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle', 'font-size': 12, fill: '#5a6170' }, text);
  });
  const lines = SERIES.map((x) => s('polyline', {
    fill: 'none',
    stroke: x.color,
    'stroke-width': 2,
    points: points(items, x.key, from, to, max, width, height),
    transform: `translate(${pad.left},${pad.top})`,
    'data-series': x.key,
  }));
  // The latest sample of each series as a dot, so a fresh server's first samples show.
  const dots = last ? SERIES.map((x) => {
    const [cx, cy] = points([last], x.key, from, to, max, width, height).split(',');
    return s('circle', { cx, cy, r: 3.5, fill: x.color, transform: `translate(${pad.left},${pad.top})` });
  }) : [];
  return s('svg', {
    viewBox: `0 0 ${pad.left + width + pad.right} ${pad.top + height + pad.bottom}`,
    role: 'img',
    'aria-label': label,
    class: 'chart',
    id: 'status-chart',
  }, s('title', {}, label), grid, ticks, lines, dots);
}

export async function render(main) {
  const alert = h('div', { class: 'alerts' });
  const counts = h('div', { class: 'chips', id: 'overview-counts' });
  const figure = h('figure', { class: 'card wide' });
  let range = RANGES[1];

  async function load() {
    try {
      const to = Date.now();
      const from = to - range.ms;
      const [now, history] = await Promise.all([
        api('GET', '/api/fleet/agent_status'),
        api('GET', `/internal/fleet/agent_status_history${query({ since: new Date(from).toISOString() })}`),
      ]);
      const r = now.results;
      counts.replaceChildren(
        h('a', { class: 'stat', href: '/app/fleet/agents' }, 'Agents ', h('span', { class: 'count' }, String(r.active))),
        ...SERIES.map((x) => h('span', { class: 'stat' },
          h('span', { class: 'swatch', 'aria-hidden': 'true', dataset: { series: x.key } }), ` ${x.label} `, h('span', { class: 'count' }, String(r[x.key] ?? 0)))));
      const items = history.items || [];
      figure.replaceChildren(...[
        h('figcaption', { class: 'toolbar' }, h('strong', {}, 'Agents by status over time'), h('span', { class: 'spacer' }),
          h('label', { for: 'overview-range', class: 'muted' }, 'Range'),
          h('select', { id: 'overview-range', class: 'inline', onchange: (e) => { range = RANGES.find((x) => x.key === e.target.value); load(); } },
            RANGES.map((x) => h('option', { value: x.key, selected: x === range }, x.label)))),
        chart(items, from, to),
        h('ul', { class: 'legend' }, SERIES.map((x) => h('li', {}, h('span', { class: 'swatch', 'aria-hidden': 'true', dataset: { series: x.key } }), ` ${x.label}`))),
        items.length ? null : h('p', { class: 'muted' }, 'Samples are taken once a minute; the first appears within a minute of the server starting.'),
      ].filter(Boolean));
    } catch (err) {
      showError(alert, err);
    }
  }

  main.replaceChildren(
    h('h1', {}, 'Fleet overview'),
    alert,
    counts,
    figure,
    h('p', {}, h('a', { href: '/app/fleet/agents' }, 'All agents'), ' · ', h('a', { href: '/app/fleet/policies' }, 'Agent policies'), ' · ',
      h('a', { href: '/app/fleet/enrollment-tokens' }, 'Add agents (enrollment tokens)')));
  await load();
}
