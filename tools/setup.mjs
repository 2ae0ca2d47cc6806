#!/usr/bin/env node
// Installs the workspace's npm dependencies when they are missing or older than package-lock.json, so that
// `npm test` and `npm run demo` work on a fresh clone. Install scripts of dependencies stay off (npm 11's default):
// onnxruntime-node ships its CPU binaries in the package and must never try to download CUDA parts.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const installed = new URL('node_modules/.package-lock.json', root);
const lock = new URL('package-lock.json', root);
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  process.stderr.write('setup: installing npm dependencies (npm ci)\n');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
}
