// Kibana Console syntax: requests written as `METHOD path` lines, each followed by an optional
// JSON body; `kbn:` before the path addresses Kibana's API (all of Flotilla), full-line `#` and
// `//` comments are skipped. No DOM here, so it is tested on its own (tests/console.test.mjs).

const REQUEST_LINE = /^\s*(GET|POST|PUT|DELETE|PATCH|HEAD)\s+(\S+)\s*$/i;
const COMMENT = /^\s*(#|\/\/)/;

/**
 * Every request in `text`, in order: {method, path, kibana, body, bodyText, startLine, endLine,
 * error}. Lines are 0-based; `error` says what is wrong with a request that cannot be sent.
 */
export function parseRequests(text) {
  const lines = String(text).split(/\r?\n/);
  const out = [];
  let cur = null;
  const finish = () => {
    if (cur) out.push(finishRequest(cur));
    cur = null;
  };
  lines.forEach((line, i) => {
    const m = REQUEST_LINE.exec(line);
    if (m) {
      finish();
      cur = { method: m[1].toUpperCase(), rawPath: m[2], startLine: i, endLine: i, body: [] };
      return;
    }
    if (!cur || COMMENT.test(line)) return;
    cur.body.push(line);
    if (line.trim()) cur.endLine = i;
  });
  finish();
  return out;
}

function finishRequest(cur) {
  let path = cur.rawPath;
  const kibana = /^kbn:/i.test(path);
  if (kibana) path = path.slice(4);
  if (!path.startsWith('/')) path = `/${path}`;
  const bodyText = cur.body.join('\n').trim();
  const req = {
    method: cur.method,
    path,
    kibana,
    body: undefined,
    bodyText,
    startLine: cur.startLine,
    endLine: cur.endLine,
    error: null,
  };
  if (bodyText) {
    try {
      req.body = JSON.parse(bodyText);
    } catch (e) {
      req.error = `The body of ${cur.method} ${cur.rawPath} (line ${cur.startLine + 1}) is not valid JSON: ${e.message}`;
    }
  }
  return req;
}

/** The request a cursor on `line` (0-based) is in: the last one starting at or above it. */
export function requestAt(requests, line) {
  let found = null;
  for (const r of requests) {
    if (r.startLine <= line) found = r;
  }
  return found || requests[0] || null;
}

function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/** The request as a curl command against `origin` (`kbn-xsrf` and the JSON type included). */
export function toCurl(req, origin) {
  const parts = [`curl -X ${req.method} ${shellQuote(origin + req.path)}`];
  parts.push(`-H 'kbn-xsrf: true'`);
  parts.push(`-u "elastic:$ELASTIC_PASSWORD"`);
  if (req.bodyText) {
    parts.push(`-H 'Content-Type: application/json'`);
    const body = req.body === undefined ? req.bodyText : JSON.stringify(req.body);
    parts.push(`-d ${shellQuote(body)}`);
  }
  return parts.join(' \\\n  ');
}
