// Dev Tools → Console: requests in Kibana Console syntax, run from the browser with the session
// (`kbn-xsrf` added here), answers pretty-printed with status and time. The editor's text and the
// last requests run are kept in this browser (localStorage).
import { h, xsrfHeaders } from './api.js';
import { parseRequests, requestAt, toCurl } from './console-parse.js';

const TEXT_KEY = 'flotilla.console.text';
const HISTORY_KEY = 'flotilla.console.history';
const HISTORY_MAX = 50;
const EXAMPLE = `# Requests as in Kibana's Dev Tools console. Ctrl+Enter runs the one at the cursor.
GET kbn:/api/fleet/agent_policies

GET kbn:/api/fleet/agents?perPage=5
`;

function load(key, fallback) {
  try {
    const v = localStorage.getItem(key);
    return v === null ? fallback : JSON.parse(v);
  } catch {
    return fallback;
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Private mode or a full store: the console still works, it just forgets.
  }
}

/** Sends one parsed request; returns {status, ms, text}. */
export async function send(req) {
  const headers = xsrfHeaders(req.bodyText ? { 'content-type': 'application/json' } : {});
  const started = performance.now();
  const res = await fetch(req.path, {
    method: req.method,
    headers,
    credentials: 'same-origin',
    body: req.bodyText ? JSON.stringify(req.body) : undefined,
  });
  const raw = await res.text();
  const ms = Math.round(performance.now() - started);
  let text = raw;
  try {
    text = JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    // Not JSON (a YAML download, say): shown as it came.
  }
  return { status: res.status, statusText: res.statusText, ms, text };
}

export async function render(main) {
  const editor = h('textarea', {
    id: 'console-input',
    class: 'code',
    spellcheck: 'false',
    'aria-label': 'Console requests',
    rows: 24,
  });
  editor.value = load(TEXT_KEY, EXAMPLE);
  const status = h('p', { id: 'console-status', class: 'muted', role: 'status' }, 'Ready');
  const output = h('pre', { id: 'console-output', class: 'code output', tabindex: '0', 'aria-label': 'Response' });
  const historyList = h('ol', { class: 'history' });

  const cursorLine = () => editor.value.slice(0, editor.selectionStart).split('\n').length - 1;
  const current = () => requestAt(parseRequests(editor.value), cursorLine());

  const run = async (reqs) => {
    const parts = [];
    for (const req of reqs) {
      if (req.error) {
        status.textContent = req.error;
        status.className = 'error';
        return;
      }
      status.textContent = `${req.method} ${req.path} …`;
      status.className = 'muted';
      let answer;
      try {
        answer = await send(req);
      } catch (err) {
        status.textContent = `${req.method} ${req.path}: ${err.message}`;
        status.className = 'error';
        return;
      }
      const line = `${answer.status} ${answer.statusText} · ${answer.ms} ms`;
      status.textContent = line;
      status.className = answer.status < 400 ? 'ok' : 'error';
      parts.push(reqs.length > 1 ? `# ${req.method} ${req.path} → ${line}\n${answer.text}` : answer.text);
      const history = load(HISTORY_KEY, []);
      history.unshift({ method: req.method, path: req.path, kibana: req.kibana, bodyText: req.bodyText, at: new Date().toISOString() });
      save(HISTORY_KEY, history.slice(0, HISTORY_MAX));
    }
    output.textContent = parts.join('\n\n');
    drawHistory();
  };

  const drawHistory = () => {
    const items = load(HISTORY_KEY, []);
    historyList.replaceChildren(...items.map((item) => h('li', {},
      h('button', {
        type: 'button',
        class: 'link',
        title: 'Put this request in the editor',
        onclick: () => {
          const line = `${item.method} ${item.kibana ? 'kbn:' : ''}${item.path}`;
          editor.value = `${editor.value.trimEnd()}\n\n${line}\n${item.bodyText ? `${item.bodyText}\n` : ''}`;
          save(TEXT_KEY, editor.value);
          editor.focus();
        },
      }, `${item.method} ${item.path}`),
      ' ',
      h('time', { datetime: item.at, class: 'muted' }, new Date(item.at).toLocaleString()))));
  };

  editor.addEventListener('input', () => save(TEXT_KEY, editor.value));
  editor.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      const req = current();
      if (req) run([req]);
    }
  });

  const copy = h('button', {
    type: 'button',
    onclick: async () => {
      const req = current();
      if (!req) return;
      const curl = toCurl(req, location.origin);
      try {
        await navigator.clipboard.writeText(curl);
        status.textContent = 'Copied as curl.';
      } catch {
        output.textContent = curl;
        status.textContent = 'The clipboard is not available here: the command is below.';
      }
      status.className = 'muted';
    },
  }, 'Copy as curl');

  main.replaceChildren(
    h('h1', {}, 'Console'),
    h('div', { class: 'toolbar' },
      h('button', { type: 'button', class: 'primary', id: 'console-run', onclick: () => { const r = current(); if (r) run([r]); } }, 'Run (Ctrl+Enter)'),
      h('button', { type: 'button', onclick: () => run(parseRequests(editor.value)) }, 'Run all'),
      copy,
      h('button', { type: 'button', onclick: () => { save(HISTORY_KEY, []); drawHistory(); } }, 'Clear history')),
    h('div', { class: 'console' },
      h('section', { 'aria-label': 'Requests' }, editor),
      h('section', { 'aria-label': 'Response' }, status, output)),
    h('details', {}, h('summary', {}, 'History'), historyList),
  );
  drawHistory();
  editor.focus();
}
