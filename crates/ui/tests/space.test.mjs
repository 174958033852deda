// Pages opened under /s/{space}/ keep the space in their API requests and links, as Kibana's do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inSpace, spaceBase } from '../assets/api.js';

test('the space is the /s/{space} prefix of the page address, if any', () => {
  assert.equal(spaceBase('/s/team-a/app/fleet/agents'), '/s/team-a');
  assert.equal(spaceBase('/app/fleet/agents'), '');
  assert.equal(spaceBase('/s/'), '');
  assert.equal(spaceBase('/s/team-a'), '', 'a space with no page after it is not a page address');
});

test('absolute paths get the page space; other addresses stay as they are', () => {
  const page = '/s/team-a/app/fleet/policies';
  assert.equal(inSpace('/api/fleet/agent_policies', page), '/s/team-a/api/fleet/agent_policies');
  assert.equal(inSpace('/app/fleet/agents?kuery=x', page), '/s/team-a/app/fleet/agents?kuery=x');
  assert.equal(inSpace('/s/other/api/fleet/agents', page), '/s/other/api/fleet/agents');
  assert.equal(inSpace('//evil.example/x', page), '//evil.example/x');
  assert.equal(inSpace('#/console', page), '#/console');
  assert.equal(inSpace('/api/fleet/agents', '/app/fleet/agents'), '/api/fleet/agents');
});
