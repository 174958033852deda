// The integration form's body logic against the real nginx 1.5.0 package as Flotilla serves it
// (the shape is built here from its manifest's parts that matter).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldValue, initialValue, packageInputs, policyBody } from '../assets/package-form.js';

const nginx = {
  name: 'nginx',
  version: '1.5.0',
  policy_templates: [{
    name: 'nginx',
    inputs: [
      { type: 'logfile' },
      { type: 'httpjson', vars: [{ name: 'url', type: 'text', required: true, default: 'https://server.example.com:8089' }] },
      { type: 'nginx/metrics', vars: [{ name: 'hosts', type: 'text', multi: true, required: true, default: ['http://127.0.0.1:80'] }] },
    ],
  }],
  data_streams: [
    { dataset: 'nginx.access', path: 'access', streams: [
      { input: 'logfile', vars: [
        { name: 'paths', type: 'text', multi: true, default: ['/var/log/nginx/access.log*'] },
        { name: 'preserve_original_event', type: 'bool', default: false },
        { name: 'processors', type: 'yaml' },
      ] },
      { input: 'httpjson', enabled: false, vars: [{ name: 'interval', type: 'text', default: '10s' }] },
    ] },
    { dataset: 'nginx.stubstatus', path: 'stubstatus', streams: [
      { input: 'nginx/metrics', vars: [{ name: 'period', type: 'text', default: '10s' }] },
    ] },
  ],
};

test('inputs are keyed as Kibana\'s simplified format keys them, with their streams', () => {
  const inputs = packageInputs(nginx);
  assert.deepEqual(inputs.map((i) => [i.key, i.streams.map((s) => s.dataset)]), [
    ['nginx-logfile', ['nginx.access']],
    ['nginx-httpjson', ['nginx.access']],
    ['nginx-nginx/metrics', ['nginx.stubstatus']],
  ]);
});

test('field values convert by var type', () => {
  assert.deepEqual(fieldValue({ type: 'text', multi: true }, '/a\n\n /b \n'), ['/a', '/b']);
  assert.equal(fieldValue({ type: 'integer' }, '42'), 42);
  assert.equal(fieldValue({ type: 'integer' }, ''), undefined);
  assert.equal(fieldValue({ type: 'bool' }, true), true);
  assert.equal(fieldValue({ type: 'password' }, 's3cret'), 's3cret');
  assert.equal(fieldValue({ type: 'yaml' }, ''), undefined);
  assert.deepEqual(initialValue({ type: 'text', multi: true }), []);
  assert.equal(initialValue({ type: 'bool' }), false);
  assert.equal(initialValue({ type: 'text', default: '10s' }), '10s');
});

test('the body: vars set, inputs and streams switched on and off', () => {
  const body = policyBody(nginx, { name: 'nginx-1', namespace: '', policy_id: 'p1', description: '' }, {
    'inputs.nginx-logfile.streams.nginx.access.vars.paths': '/var/log/nginx/access.log*\n/srv/log/access.log',
    'inputs.nginx-logfile.streams.nginx.access.vars.preserve_original_event': true,
    'inputs.nginx-logfile.streams.nginx.access.vars.processors': '',
    'inputs.nginx-nginx/metrics.vars.hosts': 'http://10.0.0.1',
  }, { 'inputs.nginx-httpjson': false });
  assert.deepEqual(body, {
    name: 'nginx-1',
    namespace: 'default',
    policy_id: 'p1',
    package: { name: 'nginx', version: '1.5.0' },
    inputs: {
      'nginx-logfile': {
        enabled: true,
        streams: { 'nginx.access': { enabled: true, vars: { paths: ['/var/log/nginx/access.log*', '/srv/log/access.log'], preserve_original_event: true } } },
      },
      'nginx-httpjson': { enabled: false, streams: { 'nginx.access': { enabled: false } } },
      'nginx-nginx/metrics': {
        enabled: true,
        vars: { hosts: ['http://10.0.0.1'] },
        streams: { 'nginx.stubstatus': { enabled: true } },
      },
    },
  });
});
