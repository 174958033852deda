// Fleet → Settings: outputs, Fleet Server hosts, proxies and agent binary download sources.
// Each object is edited as the JSON its API takes (what a Terraform or curl user writes too),
// so every field the API has is reachable here.
import { api, h, showError } from './api.js';

const SECTIONS = [
  {
    title: 'Outputs',
    path: '/api/fleet/outputs',
    summary: (o) => `${o.type} · ${(o.hosts || []).join(', ')}`,
    template: { name: 'my-output', type: 'elasticsearch', hosts: ['https://elasticsearch:9200'], is_default: false, is_default_monitoring: false },
  },
  {
    title: 'Fleet Server hosts',
    path: '/api/fleet/fleet_server_hosts',
    summary: (o) => (o.host_urls || []).join(', '),
    template: { name: 'my-fleet-server', host_urls: ['https://fleet-server:8220'], is_default: false },
  },
  {
    title: 'Proxies',
    path: '/api/fleet/proxies',
    summary: (o) => o.url,
    template: { name: 'my-proxy', url: 'https://proxy:3128' },
  },
  {
    title: 'Agent binary download sources',
    path: '/api/fleet/agent_download_sources',
    summary: (o) => o.host,
    template: { name: 'my-source', host: 'https://artifacts.example.com/downloads/', is_default: false },
  },
];

// Fields the API sets itself; left out of what is sent back.
const READ_ONLY = ['id', 'is_preconfigured', 'is_internal', 'allow_edit', 'created_at', 'updated_at', 'secrets'];

function editable(item) {
  const out = { ...item };
  for (const k of READ_ONLY) delete out[k];
  return out;
}

function editor(initial, onSave, label) {
  const area = h('textarea', { class: 'code', rows: 10, 'aria-label': label });
  area.value = JSON.stringify(initial, null, 2);
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  return h('div', { class: 'editor' }, area, error, h('div', { class: 'toolbar' },
    h('button', {
      type: 'button',
      class: 'primary',
      onclick: async () => {
        let body;
        try {
          body = JSON.parse(area.value);
        } catch (e) {
          error.textContent = `Not valid JSON: ${e.message}`;
          error.hidden = false;
          return;
        }
        error.hidden = true;
        try {
          await onSave(body);
        } catch (err) {
          error.textContent = err.message;
          error.hidden = false;
        }
      },
    }, 'Save')));
}

async function section(def) {
  const alert = h('div', { class: 'alerts' });
  const list = h('ul', { class: 'settings-list' });
  const box = h('section', { 'aria-label': def.title }, h('h2', {}, def.title), alert, list);
  const load = async () => {
    let items;
    try {
      items = (await api('GET', `${def.path}?perPage=100`)).items || [];
    } catch (err) {
      showError(alert, err);
      return;
    }
    list.replaceChildren(
      ...items.map((item) => {
        const slot = h('div');
        return h('li', { class: 'card wide' },
          h('strong', {}, item.name), item.is_default ? h('span', { class: 'badge' }, 'default') : null,
          h('div', { class: 'muted' }, def.summary(item) || ''),
          h('div', { class: 'toolbar' },
            h('button', {
              type: 'button',
              onclick: () => slot.replaceChildren(editor(editable(item), async (body) => {
                await api('PUT', `${def.path}/${encodeURIComponent(item.id)}`, body);
                load();
              }, `Edit ${item.name}`)),
            }, 'Edit'),
            item.is_preconfigured ? null : h('button', {
              type: 'button',
              class: 'link danger',
              onclick: async () => {
                if (!confirm(`Delete "${item.name}"?`)) return;
                try {
                  await api('DELETE', `${def.path}/${encodeURIComponent(item.id)}`);
                  load();
                } catch (err) {
                  showError(alert, err);
                }
              },
            }, 'Delete')),
          slot);
      }),
      h('li', {}, h('details', {}, h('summary', {}, `Add to ${def.title.toLowerCase()}`),
        editor(def.template, async (body) => {
          await api('POST', def.path, body);
          load();
        }, `New item of ${def.title}`))),
    );
  };
  await load();
  return box;
}

export async function render(main) {
  main.replaceChildren(h('h1', {}, 'Settings'));
  for (const def of SECTIONS) {
    main.append(await section(def));
  }
}
