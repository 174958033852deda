// node --test crates/ui/tests — the Dev Tools console's parser (no browser needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequests, requestAt, toCurl } from '../assets/console-parse.js';

test('requests from the Fleet API guide, with kbn: and bodies', () => {
  const text = [
    '# List policies',
    'GET kbn:/api/fleet/agent_policies',
    '',
    'POST kbn:/api/fleet/agent_policies?sys_monitoring=true',
    '{',
    '  "name": "Agent policy 1",',
    '  "namespace": "default"',
    '}',
    '',
    '// anywhere',
    'get kbn:api/fleet/agents?perPage=5',
  ].join('\n');
  const reqs = parseRequests(text);
  assert.equal(reqs.length, 3);
  assert.deepEqual(
    reqs.map((r) => [r.method, r.path, r.kibana, r.startLine, r.endLine]),
    [
      ['GET', '/api/fleet/agent_policies', true, 1, 1],
      ['POST', '/api/fleet/agent_policies?sys_monitoring=true', true, 3, 7],
      ['GET', '/api/fleet/agents?perPage=5', true, 10, 10],
    ],
  );
  assert.deepEqual(reqs[1].body, { name: 'Agent policy 1', namespace: 'default' });
  assert.equal(reqs[0].body, undefined);
  assert.ok(reqs.every((r) => r.error === null));
});

test('a body that is not JSON is an error naming the request and line', () => {
  const [req] = parseRequests('PUT kbn:/api/fleet/agent_policies/x\n{"name": }');
  assert.equal(req.body, undefined);
  assert.match(req.error, /PUT kbn:\/api\/fleet\/agent_policies\/x \(line 1\) is not valid JSON/);
});

test('paths without kbn: are kept, text before the first request is ignored', () => {
  const reqs = parseRequests('just words\nGET _security/_authenticate\n');
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0].path, '/_security/_authenticate');
  assert.equal(reqs[0].kibana, false);
  assert.deepEqual(parseRequests(''), []);
});

test('the request at the cursor', () => {
  const reqs = parseRequests('GET kbn:/a\n\nPOST kbn:/b\n{}\n\nDELETE kbn:/c');
  assert.equal(requestAt(reqs, 0).path, '/a');
  assert.equal(requestAt(reqs, 1).path, '/a');
  assert.equal(requestAt(reqs, 3).path, '/b');
  assert.equal(requestAt(reqs, 9).path, '/c');
  assert.equal(requestAt([], 3), null);
});

test('copy as curl quotes for the shell and adds kbn-xsrf', () => {
  const [req] = parseRequests(`POST kbn:/api/fleet/agent_policies\n{"name": "it's"}`);
  const curl = toCurl(req, 'http://localhost:5601');
  assert.match(curl, /^curl -X POST 'http:\/\/localhost:5601\/api\/fleet\/agent_policies'/);
  assert.match(curl, /-H 'kbn-xsrf: true'/);
  assert.match(curl, /-H 'Content-Type: application\/json'/);
  assert.ok(curl.includes(`-d '{"name":"it'\\''s"}'`), curl);
  const [get] = parseRequests('GET kbn:/api/fleet/agents');
  assert.ok(!toCurl(get, 'http://h').includes('-d '));
});
