// The management API as the pages use it: the session cookie authenticates, `kbn-xsrf` is
// added to every request (writes need it), and a lost session goes back to the login page.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export const API_VERSION = '2023-10-31';

/**
 * The Kibana space the page is in: `/s/{space}` when its address starts so, else '' (the
 * default space). API requests and links keep it, as Kibana's do.
 */
export function spaceBase(pathname = location.pathname) {
  const m = /^\/s\/[^/]+(?=\/)/.exec(pathname);
  return m ? m[0] : '';
}

/** The page's path without its space prefix: what the pages route on. */
export function pagePath(pathname = location.pathname) {
  return pathname.slice(spaceBase(pathname).length);
}

/** An absolute path of Flotilla's (`/api/...`, `/app/...`) in the page's space. */
export function inSpace(path, pathname = location.pathname) {
  return path.startsWith('/') && !path.startsWith('//') && !/^\/s\//.test(path)
    ? spaceBase(pathname) + path
    : path;
}

export function xsrfHeaders(extra = {}) {
  return { 'kbn-xsrf': 'flotilla-ui', 'elastic-api-version': API_VERSION, ...extra };
}

export function toLogin() {
  const next = location.pathname + location.search + location.hash;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

/** Calls the API; resolves to the JSON body, rejects with an ApiError. */
export async function api(method, path, body) {
  const headers = xsrfHeaders(body === undefined ? {} : { 'content-type': 'application/json' });
  const res = await fetch(inSpace(path), {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  if (res.status === 401) {
    toLogin();
  }
  if (!res.ok) {
    throw new ApiError(res.status, json);
  }
  return json;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * Builds an element. Text is always set as text (never parsed as HTML), so values from the API
 * cannot inject markup.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (v === true) {
      el.setAttribute(k, '');
    } else if (k === 'href' && /^\/(app|api)\//.test(String(v))) {
      el.setAttribute(k, inSpace(String(v)));
    } else {
      el.setAttribute(k, String(v));
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A message in the page's alert area. */
export function showError(where, err) {
  where.replaceChildren(h('p', { class: 'error', role: 'alert' }, err instanceof ApiError
    ? `${err.status}: ${err.message}`
    : String(err && err.message ? err.message : err)));
}

/** "3 minutes ago" style times. */
export function ago(iso) {
  if (!iso) return '—';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (Number.isNaN(s)) return iso;
  if (s < 60) return `${Math.max(s, 0)} seconds ago`;
  if (s < 3600) return `${Math.round(s / 60)} minutes ago`;
  if (s < 86400) return `${Math.round(s / 3600)} hours ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/**
 * A button that runs `act` (which may decline by returning a falsy value, e.g. after a
 * cancelled confirm) and reports its answer in `alertArea`; `done` gets the answer.
 */
export function actionButton(label, act, alertArea, done) {
  return h('button', {
    type: 'button',
    onclick: async () => {
      try {
        const res = await act();
        if (!res) return;
        const id = res.actionId;
        alertArea.replaceChildren(h('p', { class: 'ok', role: 'status', dataset: { action: id || '' } },
          id ? `${label}: action ${id} started.` : `${label}: done.`));
        done(res);
      } catch (err) {
        showError(alertArea, err);
      }
    },
  }, label);
}

/**
 * Asks the user to pick one of `options` ([value, label] pairs) in a modal dialog (keyboard:
 * the select has focus, Enter confirms, Escape cancels). Resolves to the value, or null.
 */
export function choose(title, label, options) {
  return new Promise((resolve) => {
    const select = h('select', { id: 'choose-value' }, options.map(([value, text]) => h('option', { value }, text)));
    const dialog = h('dialog', { class: 'card', 'aria-labelledby': 'choose-title' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'choose-title' }, title),
        h('label', { for: 'choose-value' }, label),
        select,
        h('div', { class: 'toolbar' },
          h('button', { type: 'submit', class: 'primary', value: 'ok', id: 'choose-ok' }, 'OK'),
          h('button', { type: 'submit', value: 'cancel' }, 'Cancel'))));
    dialog.addEventListener('close', () => {
      const value = dialog.returnValue === 'ok' ? select.value : null;
      dialog.remove();
      resolve(value);
    });
    document.body.append(dialog);
    dialog.showModal();
    select.focus();
  });
}
