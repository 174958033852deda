// Fleet → Agent policies → one policy: its integrations, its settings (edit), copy, the full
// policy as YAML with a download button, and delete. Every write goes through the same
// /api/fleet endpoints a script would call, and each form can preview its request.
import { api, h, inSpace, pagePath, showError, ago, query } from './api.js';
import { consoleRequest, policyForm, policyFormBody, openInConsole } from './policies.js';

function policyId() {
  const parts = pagePath().split('/');
  return decodeURIComponent(parts[4] || '');
}

export async function render(main) {
  const id = policyId();
  const alert = h('div', { class: 'alerts' });
  const path = `/api/fleet/agent_policies/${encodeURIComponent(id)}`;
  let policy;
  try {
    policy = (await api('GET', path)).item;
  } catch (err) {
    main.replaceChildren(h('p', {}, h('a', { href: '/app/fleet/policies' }, '← Agent policies')), alert);
    showError(alert, err);
    return;
  }

  // Integrations: the policy's package policies.
  const integrations = h('table', { class: 'integrations', id: 'policy-integrations' });
  async function loadIntegrations() {
    try {
      const kuery = `ingest-package-policies.policy_ids:"${id.replace(/["\\]/g, '\\$&')}"`;
      const res = await api('GET', `/api/fleet/package_policies${query({ kuery, perPage: 1000 })}`);
      const items = res.items || [];
      integrations.replaceChildren(
        h('caption', {}, `${items.length} integration${items.length === 1 ? '' : 's'}`),
        h('thead', {}, h('tr', {}, ['Name', 'Integration', 'Namespace', 'Last updated', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, items.map((pp) => h('tr', {},
          h('td', { 'data-label': 'Name' }, h('strong', {}, pp.name), pp.description ? h('div', { class: 'muted' }, pp.description) : null),
          h('td', { 'data-label': 'Integration' }, pp.package
            ? h('a', { href: `/app/integrations/detail/${encodeURIComponent(`${pp.package.name}-${pp.package.version}`)}/overview` }, `${pp.package.title || pp.package.name} v${pp.package.version}`)
            : '—'),
          h('td', { 'data-label': 'Namespace' }, pp.namespace || policy.namespace),
          h('td', { 'data-label': 'Last updated' }, ago(pp.updated_at)),
          h('td', {}, policy.is_managed ? null : h('button', {
            type: 'button',
            class: 'link danger',
            'aria-label': `Delete integration ${pp.name}`,
            onclick: async () => {
              if (!confirm(`Delete integration "${pp.name}" from this policy?`)) return;
              try {
                await api('POST', '/api/fleet/package_policies/delete', { packagePolicyIds: [pp.id] });
                alert.replaceChildren(h('p', { class: 'ok', role: 'status' }, `Integration "${pp.name}" deleted.`));
                await Promise.all([loadIntegrations(), loadYaml()]);
              } catch (err) {
                showError(alert, err);
              }
            },
          }, 'Delete'))))),
      );
    } catch (err) {
      showError(alert, err);
    }
  }

  // Settings: the same form as create, filled in; saved with PUT.
  const edit = policyForm('edit-policy', 'Settings', 'Save changes', policy);
  edit.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = policyFormBody(edit.form);
    if (!body.name) {
      showError(alert, new Error('A name is required.'));
      edit.form.name.focus();
      return;
    }
    try {
      const res = await api('PUT', path, body);
      policy = res.item;
      title.textContent = policy.name;
      alert.replaceChildren(h('p', { class: 'ok', role: 'status', id: 'policy-saved' }, `Agent policy "${policy.name}" saved (revision ${policy.revision}).`));
      await loadYaml();
    } catch (err) {
      showError(alert, err);
    }
  });
  edit.preview(() => ['PUT', path, policyFormBody(edit.form)]);

  // Copy.
  const copyName = h('input', { id: 'copy-name', value: `${policy.name} (copy)` });
  const copyForm = h('form', { class: 'card', id: 'copy-policy', novalidate: true },
    h('h2', {}, 'Copy policy'),
    h('p', { class: 'muted' }, 'A new agent policy with the same settings and integrations.'),
    h('label', { for: 'copy-name' }, 'New policy name'),
    copyName,
    h('div', { class: 'toolbar' },
      h('button', { type: 'submit' }, 'Copy policy'),
      h('button', { type: 'button', class: 'link', onclick: () => openInConsole(consoleRequest('POST', `${path}/copy`, { name: copyName.value.trim() })) }, 'Open in Console')));
  copyForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const res = await api('POST', `${path}/copy`, { name: copyName.value.trim() });
      location.assign(inSpace(`/app/fleet/policies/${encodeURIComponent(res.item.id)}`));
    } catch (err) {
      showError(alert, err);
    }
  });

  // The full policy an agent receives, as YAML.
  const yaml = h('pre', { class: 'code', id: 'policy-yaml', tabindex: 0 });
  async function loadYaml() {
    try {
      const res = await fetch(inSpace(`${path}/download`), { credentials: 'same-origin' });
      yaml.textContent = await res.text();
    } catch (err) {
      showError(alert, err);
    }
  }

  const title = h('span', {}, policy.name);
  const agentCount = h('span', {}, '… agents');
  api('GET', `/api/fleet/agent_status${query({ policyId: id })}`)
    .then((r) => { agentCount.textContent = `${r.results.total} agent${r.results.total === 1 ? '' : 's'}`; })
    .catch(() => { agentCount.textContent = ''; });
  main.replaceChildren(
    h('p', {}, h('a', { href: '/app/fleet/policies' }, '← Agent policies')),
    h('h1', {}, title),
    h('p', { class: 'muted' },
      `Revision ${policy.revision} · `, agentCount, ` · namespace ${policy.namespace} · updated ${ago(policy.updated_at)}`,
      ' · ', h('a', { href: `/app/fleet/agents${query({ kuery: `policy_id:"${id}"` })}` }, 'View agents')),
    alert,
    h('section', {},
      h('h2', {}, 'Integrations'),
      h('div', { class: 'scroll' }, integrations),
      policy.is_managed ? null : h('p', {}, h('a', { class: 'button primary', href: `/app/integrations${query({ policyId: id })}` }, 'Add integration'))),
    policy.is_managed ? h('p', { class: 'muted' }, 'This policy is managed; it cannot be edited here.') : edit.form,
    copyForm,
    h('section', {},
      h('h2', {}, 'Full policy (YAML)'),
      h('p', {}, h('a', { class: 'button', href: `${path}/download?download=true`, download: 'elastic-agent.yml' }, 'Download policy')),
      yaml),
    policy.is_managed ? null : h('p', {}, h('button', {
      type: 'button',
      class: 'danger',
      onclick: async () => {
        if (!confirm(`Delete agent policy "${policy.name}"?`)) return;
        try {
          await api('POST', '/api/fleet/agent_policies/delete', { agentPolicyId: id });
          location.assign(inSpace('/app/fleet/policies'));
        } catch (err) {
          showError(alert, err);
        }
      },
    }, 'Delete policy')));
  await Promise.all([loadIntegrations(), loadYaml()]);
}
