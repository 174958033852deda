// Fleet → Agent policies: the list, and a create form whose "Preview API request" shows the
// exact console request it sends (and opens it in the Dev Tools console).
import { api, h, showError, ago } from './api.js';

const CONSOLE_TEXT_KEY = 'flotilla.console.text';

/** The request the create form sends, in console syntax. */
export function consoleRequest(method, path, body) {
  return `${method} kbn:${path}\n${JSON.stringify(body, null, 2)}\n`;
}

function formBody(form) {
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

function createPath(form) {
  return form.sys_monitoring.checked ? '/api/fleet/agent_policies?sys_monitoring=true' : '/api/fleet/agent_policies';
}

export async function render(main) {
  const alert = h('div', { class: 'alerts' });
  const table = h('table', { class: 'policies' });
  const preview = h('pre', { class: 'code', id: 'policy-preview', hidden: true });

  async function load() {
    try {
      const res = await api('GET', '/api/fleet/agent_policies?perPage=100&withAgentCount=true&sortField=updated_at&sortOrder=desc');
      table.replaceChildren(
        h('thead', {}, h('tr', {}, ['Name', 'Namespace', 'Revision', 'Agents', 'Last updated', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, (res.items || []).map((p) => h('tr', {},
          h('td', { 'data-label': 'Name' }, h('strong', {}, p.name), p.description ? h('div', { class: 'muted' }, p.description) : null),
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

  const form = h('form', { class: 'card', id: 'create-policy', novalidate: true },
    h('h2', {}, 'Create agent policy'),
    h('label', { for: 'policy-name' }, 'Name'),
    h('input', { id: 'policy-name', name: 'name', required: true }),
    h('label', { for: 'policy-description' }, 'Description'),
    h('input', { id: 'policy-description', name: 'description' }),
    h('label', { for: 'policy-namespace' }, 'Default namespace'),
    h('input', { id: 'policy-namespace', name: 'namespace', value: 'default' }),
    h('fieldset', {},
      h('legend', {}, 'Agent monitoring'),
      h('label', {}, h('input', { type: 'checkbox', name: 'logs', checked: true }), ' Collect agent logs'),
      h('label', {}, h('input', { type: 'checkbox', name: 'metrics', checked: true }), ' Collect agent metrics')),
    h('label', {}, h('input', { type: 'checkbox', name: 'sys_monitoring', checked: true }), ' Collect system logs and metrics'),
    h('div', { class: 'toolbar' },
      h('button', { type: 'submit', class: 'primary' }, 'Create agent policy'),
      h('button', {
        type: 'button',
        id: 'policy-preview-button',
        onclick: () => {
          preview.textContent = consoleRequest('POST', createPath(form), formBody(form));
          preview.hidden = false;
          openInConsole.hidden = false;
        },
      }, 'Preview API request')),
    preview);
  const openInConsole = h('button', {
    type: 'button',
    class: 'link',
    hidden: true,
    onclick: () => {
      localStorage.setItem(CONSOLE_TEXT_KEY, JSON.stringify(consoleRequest('POST', createPath(form), formBody(form))));
      location.assign('/app/dev_tools#/console');
    },
  }, 'Open in Console');
  form.append(openInConsole);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = formBody(form);
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
