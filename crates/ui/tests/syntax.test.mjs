// Every page script parses as a JavaScript module (a syntax error would only show in a browser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const assets = new URL('../assets/', import.meta.url).pathname;

test('every asset module parses', () => {
  const scripts = readdirSync(assets).filter((f) => f.endsWith('.js'));
  assert.ok(scripts.length >= 8, scripts.join(', '));
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-ui-'));
  try {
    for (const f of scripts) {
      // As .mjs, so `node --check` reads it as a module on every Node.js version.
      const copy = join(dir, f.replace(/\.js$/, '.mjs'));
      copyFileSync(join(assets, f), copy);
      try {
        execFileSync(process.execPath, ['--check', copy], { stdio: 'pipe' });
      } catch (e) {
        assert.fail(`${f}: ${e.stderr}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
