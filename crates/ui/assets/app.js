// The shell: finds the page for the path, draws it into <main>, and marks the current link.
import { api, h, inSpace, pagePath, showError } from './api.js';

const pages = [
  [/^\/app\/fleet\/?$/, './overview.js'],
  [/^\/app\/fleet\/overview\/?$/, './overview.js'],
  [/^\/app\/fleet\/agents\/?$/, './agents.js'],
  [/^\/app\/fleet\/agents\/[^/]+\/?$/, './agent.js'],
  [/^\/app\/fleet\/policies\/?$/, './policies.js'],
  [/^\/app\/fleet\/policies\/[^/]+\/?$/, './policy.js'],
  [/^\/app\/fleet\/enrollment-tokens\/?$/, './tokens.js'],
  [/^\/app\/dev_tools\/?$/, './console.js'],
  [/^\/app\/api_docs\/?$/, './api-docs.js'],
  [/^\/app\/fleet\/settings\/?$/, './settings.js'],
  [/^\/app\/integrations(\/.*)?$/, './integrations.js'],
];

async function main() {
  const main = document.getElementById('main');
  const path = pagePath();
  for (const a of document.querySelectorAll('header a[href^="/app/"]')) {
    if (a.closest('nav') && path.startsWith(new URL(a.href).pathname)) a.setAttribute('aria-current', 'page');
    // The page's space carries over to every link (`/s/{space}/app/...`).
    a.setAttribute('href', inSpace(a.getAttribute('href')));
  }
  api('GET', '/internal/security/me')
    .then((me) => { document.getElementById('user').textContent = me.username; })
    .catch(() => {});
  const found = pages.find(([re]) => re.test(path));
  if (!found) {
    main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'There is no page at this address.'));
    return;
  }
  try {
    const page = await import(found[1]);
    await page.render(main);
  } catch (err) {
    showError(main, err);
  }
}

main();
