// Fleet → Agents → one agent: what it reported (host, version, components and their units,
// upgrade details), its policy, its diagnostics bundles, and the actions one can take on it.
import { api, h, showError, ago, actionButton } from './api.js';

function field(label, value) {
  return [h('dt', {}, label), h('dd', {}, value ?? '—')];
}

export async function render(main) {
  const id = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop());
  const alert = h('div', { class: 'alerts' });
  const body = h('div');
  main.replaceChildren(h('p', {}, h('a', { href: '/app/fleet/agents' }, '← Agents')), h('h1', {}, 'Agent'), alert, body);

  const reload = () => setTimeout(load, 1000);

  async function load() {
    let agent;
    try {
      agent = (await api('GET', `/api/fleet/agents/${encodeURIComponent(id)}`)).item;
    } catch (err) {
      showError(alert, err);
      return;
    }
    const host = agent.local_metadata?.host?.hostname ?? agent.id;
    main.querySelector('h1').textContent = host;
    let policyName = agent.policy_id;
    try {
      policyName = (await api('GET', `/api/fleet/agent_policies/${encodeURIComponent(agent.policy_id)}`)).item.name;
    } catch {
      // A policy deleted since: its id is shown.
    }
    let uploads = [];
    try {
      uploads = (await api('GET', `/api/fleet/agents/${encodeURIComponent(id)}/uploads`)).items || [];
    } catch {
      // Older servers or no permission: no list.
    }

    const components = (agent.components || []).map((c) => h('tr', {},
      h('td', { 'data-label': 'Component' }, c.id),
      h('td', { 'data-label': 'Status' }, h('span', { class: `badge status-${String(c.status).toLowerCase()}` }, c.status)),
      h('td', { 'data-label': 'Message' }, c.message || ''),
      h('td', { 'data-label': 'Units' }, (c.units || []).map((u) => h('div', {}, `${u.type} ${u.id}: ${u.status}`)))));

    body.replaceChildren(
      h('section', { class: 'card wide', 'aria-labelledby': 'overview' },
        h('h2', { id: 'overview' }, 'Overview'),
        h('dl', { class: 'fields' },
          field('Status', h('span', { class: `badge status-${agent.status}` }, agent.status)),
          field('Agent ID', h('code', {}, agent.id)),
          field('Agent policy', `${policyName} (revision ${agent.policy_revision ?? '—'})`),
          field('Version', agent.agent?.version),
          field('Last activity', ago(agent.last_checkin)),
          field('Last check-in message', agent.last_checkin_message),
          field('Enrolled', agent.enrolled_at),
          field('Host', host),
          field('Operating system', agent.local_metadata?.os?.full),
          field('Tags', (agent.tags || []).map((t) => h('span', { class: 'tag' }, t))),
          field('Upgrade', agent.upgrade_details
            ? `${agent.upgrade_details.state} → ${agent.upgrade_details.target_version}`
            : (agent.upgraded_at ? `upgraded ${ago(agent.upgraded_at)}` : null)))),
      h('div', { class: 'toolbar' },
        actionButton('Upgrade', async () => {
          const version = prompt('Upgrade to version');
          return version && api('POST', `/api/fleet/agents/${encodeURIComponent(id)}/upgrade`, { version: version.trim() });
        }, alert, reload),
        actionButton('Request diagnostics', () => api('POST', `/api/fleet/agents/${encodeURIComponent(id)}/request_diagnostics`, {}), alert, reload),
        actionButton('Unenroll', () => confirm(`Unenroll ${host}?`) && api('POST', `/api/fleet/agents/${encodeURIComponent(id)}/unenroll`, {}), alert, reload)),
      h('section', { 'aria-labelledby': 'components' },
        h('h2', { id: 'components' }, 'Components'),
        components.length
          ? h('div', { class: 'scroll' }, h('table', {},
            h('thead', {}, h('tr', {}, ['Component', 'Status', 'Message', 'Units'].map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', {}, components)))
          : h('p', { class: 'muted' }, 'The agent has not reported components.')),
      h('section', { 'aria-labelledby': 'diagnostics' },
        h('h2', { id: 'diagnostics' }, 'Diagnostics'),
        uploads.length
          ? h('ul', {}, uploads.map((u) => h('li', {},
            u.status === 'READY' && u.filePath
              ? h('a', { href: u.filePath, download: u.name }, u.name)
              : `${u.name} (${u.status})`,
            ' ', h('span', { class: 'muted' }, ago(u.createTime)))))
          : h('p', { class: 'muted' }, 'No diagnostics bundles.')),
      h('details', {}, h('summary', {}, 'Agent document (JSON)'), h('pre', { class: 'code' }, JSON.stringify(agent, null, 2))),
    );
  }

  await load();
}
