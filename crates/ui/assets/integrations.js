// Integrations: browse and search packages, install, uninstall and upload them; a package's
// page with its API reference (inputs, streams, vars) and the "Add integration" form generated
// from its vars, with "Preview API request".
import { api, query, h, inSpace, pagePath, showError, xsrfHeaders, ApiError } from './api.js';
import { initialValue, packageInputs, policyBody } from './package-form.js';
import { consoleRequest } from './policies.js';

/** The agent policy an "Add integration" link came from (`?policyId=`), preselected in the form. */
function wantedPolicy() {
  return new URLSearchParams(location.search).get('policyId') || undefined;
}

export async function render(main) {
  const m = /^\/app\/integrations\/detail\/([^/]+)/.exec(pagePath());
  if (m) return renderPackage(main, decodeURIComponent(m[1]));
  return renderBrowse(main);
}

async function renderBrowse(main) {
  const alert = h('div', { class: 'alerts' });
  const list = h('ul', { class: 'packages' });
  const search = h('input', { type: 'search', id: 'integrations-search', 'aria-label': 'Search integrations', placeholder: 'Search integrations' });
  let items = [];

  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = items.filter((p) => !q || `${p.name} ${p.title} ${p.description}`.toLowerCase().includes(q));
    list.replaceChildren(...shown.map((p) => h('li', { class: 'card' },
      h('h2', {}, h('a', { href: `/app/integrations/detail/${encodeURIComponent(`${p.name}-${p.version}`)}/overview${query({ policyId: wantedPolicy() })}` }, p.title || p.name)),
      h('p', { class: 'muted' }, `${p.name} ${p.version} · ${p.status === 'installed' ? 'installed' : 'not installed'}`),
      h('p', {}, p.description || ''))));
  };

  async function load() {
    try {
      items = (await api('GET', '/api/fleet/epm/packages?prerelease=true')).items || [];
      draw();
    } catch (err) {
      showError(alert, err);
    }
  }

  const upload = h('input', { type: 'file', id: 'integrations-upload', accept: '.zip,application/zip' });
  upload.addEventListener('change', async () => {
    const file = upload.files[0];
    if (!file) return;
    const res = await fetch(inSpace('/api/fleet/epm/packages'), {
      method: 'POST',
      headers: xsrfHeaders({ 'content-type': 'application/zip' }),
      credentials: 'same-origin',
      body: file,
    });
    const body = await res.json().catch(() => null);
    if (res.ok) {
      alert.replaceChildren(h('p', { class: 'ok', role: 'status' }, `Uploaded ${file.name}.`));
      load();
    } else {
      showError(alert, new ApiError(res.status, body));
    }
    upload.value = '';
  });

  search.addEventListener('input', draw);
  main.replaceChildren(
    h('h1', {}, 'Integrations'),
    h('div', { class: 'search' }, search),
    h('p', {}, h('label', { for: 'integrations-upload' }, 'Upload a package (zip)'), upload),
    alert,
    list,
  );
  await load();
}

function varField(v, path, values, advanced) {
  const id = `f-${path.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const label = h('label', { for: id }, v.title || v.name, v.required ? h('span', { class: 'muted' }, ' (required)') : null);
  const describe = v.description ? h('p', { class: 'muted small', id: `${id}-help` }, v.description) : null;
  const start = initialValue(v);
  values[path] = v.multi ? start.join('\n') : start;
  const set = (value) => { values[path] = value; };
  let input;
  if (v.type === 'bool') {
    input = h('input', { type: 'checkbox', id, checked: Boolean(start), onchange: (e) => set(e.target.checked) });
    return h('div', { class: 'field' }, h('label', {}, input, ` ${v.title || v.name}`), describe);
  }
  if (v.type === 'select' && !v.multi) {
    input = h('select', { id, onchange: (e) => set(e.target.value) },
      h('option', { value: '' }, '—'),
      (v.options || []).map((o) => h('option', { value: o.value, selected: o.value === start }, o.text || o.value)));
  } else if (v.multi || v.type === 'yaml' || v.type === 'textarea') {
    input = h('textarea', { id, rows: v.type === 'yaml' ? 6 : 3, class: v.type === 'yaml' ? 'code' : '', oninput: (e) => set(e.target.value) });
    input.value = values[path];
  } else {
    const type = { password: 'password', integer: 'number', email: 'email', url: 'url' }[v.type] || 'text';
    input = h('input', { id, type, value: start === '' ? undefined : String(start), oninput: (e) => set(e.target.value), autocomplete: type === 'password' ? 'new-password' : 'off' });
  }
  if (describe) input.setAttribute('aria-describedby', `${id}-help`);
  if (v.multi) describe?.append(' One per line.');
  return h('div', { class: advanced ? 'field advanced' : 'field' }, label, input, describe);
}

/** A var list as fields, those not shown to users by default under "Advanced options". */
function varFields(vars, prefix, values) {
  const shown = (vars || []).filter((v) => v.show_user !== false || v.required);
  const hidden = (vars || []).filter((v) => !(v.show_user !== false || v.required));
  return [
    shown.map((v) => varField(v, `${prefix}.${v.name}`, values, false)),
    hidden.length ? h('details', {}, h('summary', {}, 'Advanced options'), hidden.map((v) => varField(v, `${prefix}.${v.name}`, values, true))) : null,
  ];
}

async function renderPackage(main, pkgkey) {
  // `name-version`, where the version starts with a digit (names may hold dashes, versions too).
  const parts = /^(.+?)-(\d+\.\d+.*)$/.exec(pkgkey);
  const name = parts ? parts[1] : pkgkey;
  const version = parts ? parts[2] : '';
  const alert = h('div', { class: 'alerts' });
  main.replaceChildren(h('p', {}, h('a', { href: '/app/integrations' }, '← Integrations')), h('h1', {}, name), alert);
  let pkg;
  let policies;
  try {
    [pkg, policies] = await Promise.all([
      api('GET', `/api/fleet/epm/packages/${encodeURIComponent(name)}/${encodeURIComponent(version)}`).then((r) => r.item),
      api('GET', '/api/fleet/agent_policies?perPage=1000&full=false').then((r) => r.items || []),
    ]);
  } catch (err) {
    showError(alert, err);
    return;
  }
  main.querySelector('h1').textContent = `${pkg.title || pkg.name} ${pkg.version}`;
  const inputs = packageInputs(pkg);

  const installed = pkg.status === 'installed';
  const installButton = h('button', {
    type: 'button',
    onclick: async () => {
      try {
        await api(installed ? 'DELETE' : 'POST', `/api/fleet/epm/packages/${encodeURIComponent(pkg.name)}/${encodeURIComponent(pkg.version)}`, installed ? undefined : {});
        location.reload();
      } catch (err) {
        showError(alert, err);
      }
    },
  }, installed ? 'Uninstall' : 'Install');

  // API reference: what the package policy API takes for this package.
  const varRows = (vars) => (vars || []).map((v) => h('tr', {},
    h('td', {}, h('code', {}, v.name)), h('td', {}, v.type + (v.multi ? ' (multi)' : '')),
    h('td', {}, v.required ? 'yes' : 'no'), h('td', {}, v.default === undefined ? '' : JSON.stringify(v.default)),
    h('td', {}, v.title || '')));
  const varTable = (vars) => (vars && vars.length
    ? h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ['Var', 'Type', 'Required', 'Default', 'Title'].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, varRows(vars))))
    : h('p', { class: 'muted' }, 'No vars.'));
  const reference = h('details', { id: 'api-reference' }, h('summary', {}, 'API reference'),
    pkg.vars && pkg.vars.length ? [h('h3', {}, 'Package vars (vars)'), varTable(pkg.vars)] : null,
    inputs.map(({ key, input, streams }) => h('section', {},
      h('h3', {}, `Input `, h('code', {}, key), ` — ${input.title || input.type}`),
      varTable(input.vars),
      streams.map(({ dataset, stream }) => [h('h4', {}, 'Stream ', h('code', {}, dataset), ` — ${stream.title || ''}`), varTable(stream.vars)]))));

  // The add-integration form.
  const values = {};
  const enabled = {};
  const meta = h('div', {},
    h('label', { for: 'pp-name' }, 'Integration name'), h('input', { id: 'pp-name', value: `${pkg.name}-1` }),
    h('label', { for: 'pp-description' }, 'Description'), h('input', { id: 'pp-description' }),
    h('label', { for: 'pp-namespace' }, 'Namespace'), h('input', { id: 'pp-namespace', value: 'default' }),
    h('label', { for: 'pp-policy' }, 'Agent policy'),
    h('select', { id: 'pp-policy' }, policies.map((p) => h('option', { value: p.id, selected: p.id === wantedPolicy() }, p.name))));
  const inputSections = inputs.map(({ key, input, streams }) => {
    const defaultOn = streams.length === 0 || streams.some((s) => s.stream.enabled !== false);
    enabled[`inputs.${key}`] = defaultOn;
    return h('fieldset', { class: 'input' },
      h('legend', {}, h('label', {}, h('input', { type: 'checkbox', checked: defaultOn, 'data-input': key, onchange: (e) => { enabled[`inputs.${key}`] = e.target.checked; } }), ` ${input.title || input.type}`)),
      varFields(input.vars, `inputs.${key}.vars`, values),
      streams.map(({ dataset, stream }) => {
        enabled[`inputs.${key}.streams.${dataset}`] = stream.enabled !== false;
        return h('fieldset', { class: 'stream' },
          h('legend', {}, h('label', {}, h('input', { type: 'checkbox', checked: stream.enabled !== false, onchange: (e) => { enabled[`inputs.${key}.streams.${dataset}`] = e.target.checked; } }), ` ${stream.title || dataset}`)),
          varFields(stream.vars, `inputs.${key}.streams.${dataset}.vars`, values));
      }));
  });
  const body = () => policyBody(pkg, {
    name: main.querySelector('#pp-name').value.trim(),
    description: main.querySelector('#pp-description').value.trim(),
    namespace: main.querySelector('#pp-namespace').value.trim(),
    policy_id: main.querySelector('#pp-policy').value,
  }, values, enabled);
  const preview = h('pre', { class: 'code', id: 'pp-preview', hidden: true });
  const form = h('form', { class: 'card wide', id: 'add-integration', novalidate: true },
    h('h2', {}, `Add ${pkg.title || pkg.name} integration`),
    pkg.vars && pkg.vars.length ? h('fieldset', {}, h('legend', {}, 'Package settings'), varFields(pkg.vars, 'vars', values)) : null,
    meta,
    inputSections,
    h('div', { class: 'toolbar' },
      h('button', { type: 'submit', class: 'primary' }, 'Save and continue'),
      h('button', {
        type: 'button',
        id: 'pp-preview-button',
        onclick: () => {
          preview.textContent = consoleRequest('POST', '/api/fleet/package_policies', body());
          preview.hidden = false;
        },
      }, 'Preview API request')),
    preview);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const res = await api('POST', '/api/fleet/package_policies', body());
      alert.replaceChildren(h('p', { class: 'ok', role: 'status', id: 'pp-created' }, `Integration "${res.item.name}" added to the agent policy. `,
        h('a', { href: `/app/fleet/policies/${encodeURIComponent(res.item.policy_id || (res.item.policy_ids || [])[0] || '')}` }, 'View the agent policy')));
      alert.scrollIntoView();
    } catch (err) {
      showError(alert, err);
      alert.scrollIntoView();
    }
  });

  main.append(
    h('p', {}, pkg.description || ''),
    h('div', { class: 'toolbar' }, installButton,
      h('a', { href: `/api/fleet/epm/templates/${encodeURIComponent(pkg.name)}/${encodeURIComponent(pkg.version)}/inputs${query({ format: 'yml' })}` }, 'Inputs template (YAML)')),
    reference,
    form,
  );
}
