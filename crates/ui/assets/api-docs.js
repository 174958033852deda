// API docs: the OpenAPI document this server serves (`GET /api/oas`), browsable in Swagger UI
// (embedded: its files come from this server, like every other asset) and downloadable.
import { h } from './api.js';

function load(tag, attrs) {
  return new Promise((resolve, reject) => {
    const el = h(tag, { ...attrs, onload: resolve, onerror: () => reject(new Error(`${attrs.src || attrs.href} did not load`)) });
    document.head.append(el);
  });
}

export async function render(main) {
  const container = h('div', { id: 'swagger-ui' });
  main.replaceChildren(
    h('h1', {}, 'API docs'),
    h('p', {},
      'The Kibana Fleet API as Flotilla serves it. Try requests from here, or in the ',
      h('a', { href: '/app/dev_tools#/console' }, 'Dev Tools console'), '. ',
      h('a', { class: 'button', href: '/api/oas', download: 'flotilla-openapi.json', id: 'oas-download' }, 'Download the OpenAPI document')),
    container);
  await Promise.all([
    load('link', { rel: 'stylesheet', href: '/ui/swagger/swagger-ui.css' }),
    load('script', { src: '/ui/swagger/swagger-ui-bundle.js' }),
  ]);
  window.SwaggerUIBundle({
    url: '/api/oas',
    domNode: container,
    deepLinking: false,
    // Writes from "Try it out" carry kbn-xsrf like the rest of the UI; the session cookie
    // authenticates them.
    requestInterceptor: (req) => {
      req.headers['kbn-xsrf'] = 'flotilla-ui';
      return req;
    },
  });
}
