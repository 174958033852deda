// The overview chart's scales: a readable y-axis maximum and points placed by time and count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { niceMax, points } from '../assets/overview.js';

test('the y axis ends at 1, 2 or 5 times a power of ten, at or above the largest count', () => {
  assert.equal(niceMax(0), 1);
  assert.equal(niceMax(1), 1);
  assert.equal(niceMax(3), 5);
  assert.equal(niceMax(7), 10);
  assert.equal(niceMax(19000), 20000);
  assert.equal(niceMax(100000), 100000);
  assert.equal(niceMax(100001), 200000);
});

test('points are placed by timestamp across the width and by count up the height', () => {
  const from = Date.parse('2026-11-27T00:00:00.000Z');
  const to = Date.parse('2026-11-27T01:00:00.000Z');
  const items = [
    { timestamp: '2026-11-27T00:00:00.000Z', online: 0 },
    { timestamp: '2026-11-27T00:30:00.000Z', online: 50 },
    { timestamp: '2026-11-27T01:00:00.000Z' },
  ];
  assert.equal(points(items, 'online', from, to, 100, 800, 200), '0.0,200.0 400.0,100.0 800.0,200.0');
});
