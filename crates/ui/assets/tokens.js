// Fleet → Enrollment tokens: list, create, reveal, revoke, and the command that enrolls an agent.
import { api, h, showError, ago } from './api.js';

export async function render(main) {
  const alert = h('div', { class: 'alerts' });
  const table = h('table');
  const policySelect = h('select', { id: 'token-policy', name: 'policy' });
  let fleetServer = 'https://FLEET-SERVER:8220';
  api('GET', '/api/fleet/fleet_server_hosts')
    .then((r) => {
      const host = (r.items || []).find((x) => x.is_default) || (r.items || [])[0];
      if (host && host.host_urls && host.host_urls[0]) fleetServer = host.host_urls[0];
    })
    .catch(() => {});

  async function load() {
    try {
      const [keys, policies] = await Promise.all([
        api('GET', '/api/fleet/enrollment_api_keys?perPage=100'),
        api('GET', '/api/fleet/agent_policies?perPage=1000&full=false'),
      ]);
      const names = new Map((policies.items || []).map((p) => [p.id, p.name]));
      policySelect.replaceChildren(...(policies.items || []).map((p) => h('option', { value: p.id }, p.name)));
      table.replaceChildren(
        h('thead', {}, h('tr', {}, ['Name', 'Secret', 'Agent policy', 'Created', 'Active', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, (keys.items || []).map((k) => {
          const secret = h('code', {}, '••••••••••••');
          return h('tr', {},
            h('td', { 'data-label': 'Name' }, k.name),
            h('td', { 'data-label': 'Secret' }, secret, ' ', h('button', {
              type: 'button',
              class: 'link',
              'aria-label': `Show the secret of ${k.name}`,
              onclick: (e) => {
                secret.textContent = k.api_key;
                e.target.remove();
              },
            }, 'Show')),
            h('td', { 'data-label': 'Agent policy' }, names.get(k.policy_id) || k.policy_id || '—'),
            h('td', { 'data-label': 'Created' }, ago(k.created_at)),
            h('td', { 'data-label': 'Active' }, k.active ? 'Yes' : 'No'),
            h('td', {},
              h('button', {
                type: 'button',
                class: 'link',
                onclick: () => {
                  const cmd = `sudo elastic-agent install --url=${fleetServer} --enrollment-token=${k.api_key}`;
                  alert.replaceChildren(h('p', {}, 'Enroll an agent with:'), h('pre', { class: 'code' }, cmd));
                },
              }, 'Enroll command'),
              ' ',
              k.active ? h('button', {
                type: 'button',
                class: 'link danger',
                onclick: async () => {
                  if (!confirm(`Revoke enrollment token "${k.name}"? Agents can no longer enroll with it.`)) return;
                  try {
                    await api('DELETE', `/api/fleet/enrollment_api_keys/${encodeURIComponent(k.id)}`);
                    load();
                  } catch (err) {
                    showError(alert, err);
                  }
                },
              }, 'Revoke') : null));
        })),
      );
    } catch (err) {
      showError(alert, err);
    }
  }

  const name = h('input', { id: 'token-name', name: 'name' });
  const form = h('form', {
    class: 'card',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const body = { policy_id: policySelect.value };
        if (name.value.trim()) body.name = name.value.trim();
        await api('POST', '/api/fleet/enrollment_api_keys', body);
        name.value = '';
        load();
      } catch (err) {
        showError(alert, err);
      }
    },
  },
  h('h2', {}, 'Create enrollment token'),
  h('label', { for: 'token-name' }, 'Name'), name,
  h('label', { for: 'token-policy' }, 'Agent policy'), policySelect,
  h('div', { class: 'toolbar' }, h('button', { type: 'submit', class: 'primary' }, 'Create enrollment token')));

  main.replaceChildren(h('h1', {}, 'Enrollment tokens'), alert, h('div', { class: 'scroll' }, table), form);
  await load();
}
