// CORS in a real browser: a page served by one keycard (one origin) fetches from another keycard
// (a second origin) whose rules allow some paths to that origin and not others. Chromium, not a
// test client, decides what the page may read: exactly what the spec says the headers mean.
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = fs.existsSync(CHROMIUM);
const title = HAVE_CHROMIUM ? 'CORS between two origins in headless Chromium' : `CORS in headless Chromium — SKIPPED: ${CHROMIUM} is not installed (apt-get install chromium)`;

describe.skipIf(!HAVE_CHROMIUM)(title, () => {
  let fx: Fixture;
  let site: Running;
  let api: Running;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    fx = makeTree({
      site: { dir: { 'index.html': '<!DOCTYPE html><title>app</title><p>app</p>' } },
      api: { dir: { open: { dir: { 'data.json': '{"open":true}' } }, closed: { dir: { 'data.json': '{"closed":true}' } }, put: { dir: { 'data.json': '{}' } } } },
    });
    const user = SERVER_USER ? { user: SERVER_USER } : {};
    site = await startServer(['--config', writeConfig(fx.path('site.json'), { root: 'site', port: 0, ...user })]);
    const origin = `http://127.0.0.1:${site.port}`;
    api = await startServer([
      '--config',
      writeConfig(fx.path('api.json'), {
        root: 'api',
        port: 0,
        rules: [
          { path: '/open/**', cors: { origins: [origin], headers: ['X-Token'] } },
          { path: '/closed/**', cors: { origins: ['http://elsewhere.test'] } },
          { path: '/put/**', cors: { origins: [origin], methods: ['GET'] } },
        ],
        ...user,
      }),
    ]);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage();
    await page.goto(`${origin}/`);
  });

  afterAll(async () => {
    await browser?.close();
    await site?.stop();
    await api?.stop();
    fx?.cleanup();
  });

  /** Runs fetch() in the page; returns the body, or the error the browser raised. */
  const fetchFromPage = (url: string, init: { method?: string; headers?: Record<string, string> } = {}) =>
    page.evaluate(
      async ([u, i]) => {
        try {
          const r = await fetch(u as string, i as RequestInit);
          return { ok: true, status: r.status, body: await r.text() };
        } catch (e) {
          return { ok: false, error: String(e) };
        }
      },
      [url, init] as const,
    );

  it('an allowed origin reads the response', async () => {
    const r = await fetchFromPage(`http://127.0.0.1:${api.port}/open/data.json`);
    expect(r).toMatchObject({ ok: true, status: 200, body: '{"open":true}' });
  });

  it('a preflighted request with an allowed header goes through', async () => {
    const r = await fetchFromPage(`http://127.0.0.1:${api.port}/open/data.json`, { headers: { 'X-Token': 'abc' } });
    expect(r).toMatchObject({ ok: true, status: 200 });
  });

  it('another origin is blocked by the browser: no Access-Control-Allow-Origin', async () => {
    const r = await fetchFromPage(`http://127.0.0.1:${api.port}/closed/data.json`);
    expect(r.ok).toBe(false);
  });

  it('a method the rule does not allow fails its preflight (403 KC320) and is blocked', async () => {
    const r = await fetchFromPage(`http://127.0.0.1:${api.port}/put/data.json`, { method: 'PUT' });
    expect(r.ok).toBe(false);
    await vi.waitFor(() => expect(api.stderr()).toMatch(/KC320 CORS_DENIED: CORS preflight refused by rules\[2\]\.cors: method PUT is not in cors\.methods/), { timeout: 5_000, interval: 20 });
  });
});
