// Fleet → Agents: the list with a KQL search bar, status filters with counts, sorting, paging
// that follows `nextSearchAfter` (so it goes past 10,000 agents), and bulk actions on the agents
// selected on the page or on every agent matching the search.
import { api, query, h, showError, ago, actionButton, choose } from './api.js';

const PER_PAGE = 20;

// Kibana's status filters and the kuery each stands for.
const STATUSES = [
  { key: 'all', label: 'All', count: (r) => r.active, kuery: '' },
  { key: 'healthy', label: 'Healthy', count: (r) => r.online, kuery: 'status:online' },
  { key: 'unhealthy', label: 'Unhealthy', count: (r) => r.error, kuery: '(status:error or status:degraded)' },
  { key: 'updating', label: 'Updating', count: (r) => r.updating, kuery: '(status:updating or status:enrolling or status:unenrolling)' },
  { key: 'offline', label: 'Offline', count: (r) => r.offline, kuery: 'status:offline' },
  { key: 'inactive', label: 'Inactive', count: (r) => r.inactive, kuery: 'status:inactive', inactive: true },
  { key: 'unenrolled', label: 'Unenrolled', count: (r) => r.unenrolled, kuery: 'status:unenrolled', inactive: true },
];

const COLUMNS = [
  {
    label: 'Host',
    sort: 'local_metadata.host.hostname',
    cell: (a) => h('a', { href: `/app/fleet/agents/${encodeURIComponent(a.id)}` }, a.local_metadata?.host?.hostname ?? a.id),
  },
  { label: 'Status', sort: 'status', cell: (a) => h('span', { class: `badge status-${a.status}` }, a.status) },
  { label: 'Tags', cell: (a) => (a.tags || []).map((t) => h('span', { class: 'tag' }, t)) },
  { label: 'Agent policy', sort: 'policy_id', cell: (a, names) => names.get(a.policy_id) || a.policy_id || '—' },
  { label: 'Version', sort: 'local_metadata.elastic.agent.version', cell: (a) => a.agent?.version ?? a.local_metadata?.elastic?.agent?.version ?? '—' },
  { label: 'Last activity', sort: 'last_checkin', cell: (a) => ago(a.last_checkin) },
];

/** The kuery a list call sends: the search bar's and the status filter's, both holding. */
export function combinedKuery(search, statusKuery) {
  const parts = [search.trim(), statusKuery].filter(Boolean);
  if (parts.length === 2) return `(${parts[0]}) and ${parts[1]}`;
  return parts[0] || '';
}

export async function render(main) {
  const url = new URLSearchParams(location.search);
  const state = {
    search: url.get('kuery') || '',
    status: 'all',
    sortField: 'enrolled_at',
    sortOrder: 'desc',
    cursors: [null], // searchAfter of each page shown so far; the last is the current page's
    selected: new Set(),
    allMatching: false,
    page: null,
  };
  const policyNames = new Map();
  api('GET', '/api/fleet/agent_policies?perPage=1000&full=false')
    .then((r) => { for (const p of r.items || []) policyNames.set(p.id, p.name); draw(); })
    .catch(() => {});

  const alert = h('div', { class: 'alerts' });
  const searchInput = h('input', {
    id: 'agents-search',
    type: 'search',
    value: state.search,
    placeholder: 'Search with KQL, e.g. local_metadata.host.hostname:web* and tags:prod',
    'aria-label': 'Search agents (KQL)',
  });
  const chips = h('div', { class: 'chips', role: 'group', 'aria-label': 'Filter by status' });
  const bulkBar = h('div', { class: 'bulk', 'aria-live': 'polite' });
  const table = h('table', { class: 'agents' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });

  const statusDef = () => STATUSES.find((s) => s.key === state.status);
  const kuery = () => combinedKuery(state.search, statusDef().kuery);
  const selectionTarget = () => (state.allMatching ? kuery() || '*' : [...state.selected]);
  const selectionCount = () => (state.allMatching ? state.page?.total ?? 0 : state.selected.size);

  async function load() {
    alert.replaceChildren();
    const def = statusDef();
    const params = {
      perPage: PER_PAGE,
      kuery: kuery(),
      showInactive: def.inactive ? 'true' : undefined,
      sortField: state.sortField,
      sortOrder: state.sortOrder,
      searchAfter: state.cursors[state.cursors.length - 1] || undefined,
    };
    try {
      const [page, counts] = await Promise.all([
        api('GET', `/api/fleet/agents${query(params)}`),
        api('GET', `/api/fleet/agent_status${query({ kuery: state.search.trim() })}`),
      ]);
      state.page = page;
      state.counts = counts.results;
      draw();
    } catch (err) {
      showError(alert, err);
    }
  }

  function draw() {
    if (!state.page) return;
    const counts = state.counts || {};
    chips.replaceChildren(...STATUSES.map((s) => h('button', {
      type: 'button',
      class: 'chip',
      'aria-pressed': String(state.status === s.key),
      onclick: () => { state.status = s.key; resetPaging(); load(); },
    }, `${s.label} `, h('span', { class: 'count' }, String(s.count(counts) ?? 0)))));

    const items = state.page.items || [];
    const pageAll = items.length > 0 && items.every((a) => state.selected.has(a.id));
    const head = h('tr', {},
      h('th', { scope: 'col' }, h('input', {
        type: 'checkbox',
        'aria-label': 'Select the agents on this page',
        checked: pageAll || state.allMatching,
        onchange: (e) => {
          state.allMatching = false;
          for (const a of items) e.target.checked ? state.selected.add(a.id) : state.selected.delete(a.id);
          draw();
        },
      })),
      COLUMNS.map((c) => h('th', { scope: 'col', 'aria-sort': c.sort === state.sortField ? (state.sortOrder === 'asc' ? 'ascending' : 'descending') : undefined },
        c.sort
          ? h('button', {
            type: 'button',
            class: 'link',
            onclick: () => {
              state.sortOrder = state.sortField === c.sort && state.sortOrder === 'asc' ? 'desc' : 'asc';
              state.sortField = c.sort;
              resetPaging();
              load();
            },
          }, c.label)
          : c.label)));
    const rows = items.map((a) => h('tr', {},
      h('td', {}, h('input', {
        type: 'checkbox',
        'aria-label': `Select ${a.local_metadata?.host?.hostname ?? a.id}`,
        checked: state.allMatching || state.selected.has(a.id),
        disabled: state.allMatching,
        onchange: (e) => { e.target.checked ? state.selected.add(a.id) : state.selected.delete(a.id); draw(); },
      })),
      COLUMNS.map((c) => h('td', { 'data-label': c.label }, c.cell(a, policyNames)))));
    table.replaceChildren(
      h('caption', { class: 'visually-hidden' }, 'Agents'),
      h('thead', {}, head),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: COLUMNS.length + 1, class: 'muted' }, 'No agents match.'))),
    );

    const first = (state.cursors.length - 1) * PER_PAGE;
    pager.replaceChildren(
      h('span', { class: 'muted', id: 'agents-range' }, items.length
        ? `Showing ${first + 1}–${first + items.length} of ${state.page.total} agents`
        : `0 of ${state.page.total} agents`),
      h('button', {
        type: 'button',
        disabled: state.cursors.length === 1,
        onclick: () => { state.cursors.pop(); load(); },
      }, 'Previous'),
      h('button', {
        type: 'button',
        disabled: !state.page.nextSearchAfter || first + items.length >= state.page.total,
        onclick: () => { state.cursors.push(state.page.nextSearchAfter); load(); },
      }, 'Next'),
    );
    drawBulk(pageAll);
  }

  function drawBulk(pageAll) {
    const n = selectionCount();
    if (!n && !pageAll) {
      bulkBar.replaceChildren();
      return;
    }
    const total = state.page.total;
    bulkBar.replaceChildren(...[
      h('strong', { id: 'agents-selected' }, `${n} agent${n === 1 ? '' : 's'} selected`),
      !state.allMatching && pageAll && total > state.selected.size
        ? h('button', { type: 'button', class: 'link', id: 'agents-select-all', onclick: () => { state.allMatching = true; draw(); } }, `Select all ${total} agents matching the search`)
        : null,
      h('button', { type: 'button', class: 'link', onclick: () => { state.allMatching = false; state.selected.clear(); draw(); } }, 'Clear selection'),
      h('span', { class: 'spacer' }),
      bulkAction('Add tags', async () => {
        const tags = prompt('Tags to add (comma separated)');
        if (!tags) return null;
        return api('POST', '/api/fleet/agents/bulk_update_agent_tags', {
          agents: selectionTarget(),
          tagsToAdd: tags.split(',').map((t) => t.trim()).filter(Boolean),
        });
      }),
      bulkAction('Upgrade', async () => {
        const version = prompt('Upgrade to version');
        if (!version) return null;
        return api('POST', '/api/fleet/agents/bulk_upgrade', { agents: selectionTarget(), version: version.trim() });
      }),
      bulkAction('Roll back upgrade', async () => {
        if (!confirm(`Roll back the last upgrade of ${selectionCount()} agents?`)) return null;
        return api('POST', '/api/fleet/agents/bulk_rollback', { agents: selectionTarget() });
      }),
      bulkAction('Assign to policy', async () => {
        const policies = await api('GET', '/api/fleet/agent_policies?perPage=1000&sortField=name&sortOrder=asc');
        const choices = (policies.items || []).map((p) => [p.id, p.name]);
        const policyId = await choose(`Assign ${selectionCount()} agents to a new policy`, 'Agent policy', choices);
        if (!policyId) return null;
        return api('POST', '/api/fleet/agents/bulk_reassign', { agents: selectionTarget(), policy_id: policyId });
      }),
      bulkAction('Unenroll', async () => {
        if (!confirm(`Unenroll ${selectionCount()} agents?`)) return null;
        return api('POST', '/api/fleet/agents/bulk_unenroll', { agents: selectionTarget() });
      }),
    ].filter(Boolean));
  }

  function bulkAction(label, act) {
    return actionButton(label, act, alert, (res) => {
      if (res.actionId) watchAction(res.actionId, label);
      state.selected.clear();
      state.allMatching = false;
      setTimeout(load, 500);
    });
  }

  // Action progress, from the same endpoint Kibana's activity flyout reads.
  async function watchAction(actionId, label) {
    for (let i = 0; i < 120; i += 1) {
      await new Promise((r) => setTimeout(r, 1000));
      let st;
      try {
        st = await api('GET', '/api/fleet/agents/action_status?perPage=20');
      } catch {
        return;
      }
      const a = (st.items || []).find((x) => x.actionId === actionId);
      if (!a) continue;
      const p = alert.querySelector(`[data-action="${actionId}"]`);
      if (p) p.textContent = `${label}: ${a.nbAgentsAck} of ${a.nbAgentsActioned} agents done, ${a.nbAgentsFailed} failed (${a.status}).`;
      if (a.status === 'COMPLETE' || a.status === 'FAILED' || a.status === 'CANCELLED') {
        load();
        return;
      }
    }
  }

  function resetPaging() {
    state.cursors = [null];
    state.selected.clear();
    state.allMatching = false;
  }

  const form = h('form', {
    class: 'search',
    role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      state.search = searchInput.value;
      const u = new URL(location.href);
      if (state.search) u.searchParams.set('kuery', state.search); else u.searchParams.delete('kuery');
      history.replaceState(null, '', u);
      resetPaging();
      load();
    },
  }, searchInput, h('button', { type: 'submit' }, 'Search'));

  main.replaceChildren(h('h1', {}, 'Agents'), form, chips, alert, bulkBar, h('div', { class: 'scroll' }, table), pager);
  await load();
}
