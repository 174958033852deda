// Fleet → Agent policies: the list, and a create form whose "Preview API request" shows the
// exact console request it sends (and opens it in the Dev Tools console).
import { api, h, inSpace, showError, ago } from './api.js';

const CONSOLE_TEXT_KEY = 'flotilla.console.text';

/** The request the create form sends, in console syntax. */
export function consoleRequest(method, path, body) {
  return `${method} kbn:${path}\n${JSON.stringify(body, null, 2)}\n`;
}

/** The body the policy form sends (create: POST, settings: PUT). */
export function policyFormBody(form) {
  const body = {
    name: form.name.value.trim(),
    namespace: form.namespace.value.trim() || 'default',
  };
  const description = form.description.value.trim();
  if (description) body.description = description;
  const monitoring = [];
  if (form.logs.checked) monitoring.push('logs');
  if (form.metrics.checked) monitoring.push('metrics');
  body.monitoring_enabled = monitoring;
  return body;
}

/** Opens the Dev Tools console with `text` in its editor. */
export function openInConsole(text) {
  localStorage.setItem(CONSOLE_TEXT_KEY, JSON.stringify(text));
  location.assign(inSpace('/app/dev_tools#/console'));
}

/**
 * The agent policy form, used to create a policy (form id `create-policy`, field ids `policy-*`)
 * and to edit one (`edit-policy`, `edit-policy-*`).
 * `preview(request)` wires "Preview API request" and "Open in Console" to the request the form
 * would send, given as a function returning [method, path, body].
 */
export function policyForm(id, title, submitLabel, policy = {}, extra = []) {
  const p = id === 'create-policy' ? 'policy' : id;
  const monitoring = policy.monitoring_enabled || (policy.id ? [] : ['logs', 'metrics']);
  const previewArea = h('pre', { class: 'code', id: `${p}-preview`, hidden: true });
  let request = () => null;
  const openButton = h('button', {
    type: 'button',
    class: 'link',
    hidden: true,
    onclick: () => openInConsole(consoleRequest(...request())),
  }, 'Open in Console');
  const form = h('form', { class: 'card', id, novalidate: true },
    h('h2', {}, title),
    h('label', { for: `${p}-name` }, 'Name'),
    h('input', { id: `${p}-name`, name: 'name', required: true, value: policy.name || '' }),
    h('label', { for: `${p}-description` }, 'Description'),
    h('input', { id: `${p}-description`, name: 'description', value: policy.description || '' }),
    h('label', { for: `${p}-namespace` }, 'Default namespace'),
    h('input', { id: `${p}-namespace`, name: 'namespace', value: policy.namespace || 'default' }),
    h('fieldset', {},
      h('legend', {}, 'Agent monitoring'),
      h('label', {}, h('input', { type: 'checkbox', name: 'logs', checked: monitoring.includes('logs') }), ' Collect agent logs'),
      h('label', {}, h('input', { type: 'checkbox', name: 'metrics', checked: monitoring.includes('metrics') }), ' Collect agent metrics')),
    extra,
    h('div', { class: 'toolbar' },
      h('button', { type: 'submit', class: 'primary' }, submitLabel),
      h('button', {
        type: 'button',
        id: `${p}-preview-button`,
        onclick: () => {
          previewArea.textContent = consoleRequest(...request());
          previewArea.hidden = false;
          openButton.hidden = false;
        },
      }, 'Preview API request')),
    previewArea,
    openButton);
  return { form, preview: (fn) => { request = fn; } };
}

function createPath(form) {
  return form.sys_monitoring.checked ? '/api/fleet/agent_policies?sys_monitoring=true' : '/api/fleet/agent_policies';
}

export async function render(main) {
  const alert = h('div', { class: 'alerts' });
  const table = h('table', { class: 'policies' });

  async function load() {
    try {
      const res = await api('GET', '/api/fleet/agent_policies?perPage=100&withAgentCount=true&sortField=updated_at&sortOrder=desc');
      table.replaceChildren(
        h('thead', {}, h('tr', {}, ['Name', 'Namespace', 'Revision', 'Agents', 'Last updated', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, (res.items || []).map((p) => h('tr', {},
          h('td', { 'data-label': 'Name' }, h('a', { href: `/app/fleet/policies/${encodeURIComponent(p.id)}` }, h('strong', {}, p.name)), p.description ? h('div', { class: 'muted' }, p.description) : null),
          h('td', { 'data-label': 'Namespace' }, p.namespace),
          h('td', { 'data-label': 'Revision' }, String(p.revision)),
          h('td', { 'data-label': 'Agents' }, String(p.agents ?? 0)),
          h('td', { 'data-label': 'Last updated' }, ago(p.updated_at)),
          h('td', {},
            h('a', { href: `/api/fleet/agent_policies/${encodeURIComponent(p.id)}/download`, download: `elastic-agent-${p.id}.yml` }, 'Download policy'),
            ' ',
            p.is_managed ? null : h('button', {
              type: 'button',
              class: 'link danger',
              onclick: async () => {
                if (!confirm(`Delete agent policy "${p.name}"?`)) return;
                try {
                  await api('POST', '/api/fleet/agent_policies/delete', { agentPolicyId: p.id });
                  load();
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

  const create = policyForm('create-policy', 'Create agent policy', 'Create agent policy', {}, [
    h('label', {}, h('input', { type: 'checkbox', name: 'sys_monitoring', checked: true }), ' Collect system logs and metrics'),
  ]);
  const { form } = create;
  create.preview(() => ['POST', createPath(form), policyFormBody(form)]);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = policyFormBody(form);
    if (!body.name) {
      showError(alert, new Error('A name is required.'));
      form.name.focus();
      return;
    }
    try {
      const res = await api('POST', createPath(form), body);
      alert.replaceChildren(h('p', { class: 'ok', role: 'status' }, `Agent policy "${res.item.name}" created.`));
      form.reset();
      load();
    } catch (err) {
      showError(alert, err);
    }
  });

  main.replaceChildren(h('h1', {}, 'Agent policies'), alert, h('div', { class: 'scroll' }, table), form);
  await load();
}
