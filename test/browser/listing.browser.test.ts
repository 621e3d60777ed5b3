// A directory listing in a real browser (headless Chromium through playwright-core): navigate
// into a subdirectory and back, sort by clicking a column header, and check that a file named
// like an XSS payload is only ever text. Screenshots (desktop and a 390 px phone) are saved to
// test/artifacts/ for a person to look at.
//
// Skipped, and says so, when /usr/bin/chromium is not installed (CI's .ci/run installs it).
import * as fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = fs.existsSync(CHROMIUM);
const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../artifacts');
const XSS = '<img src=x onerror=alert(1)>.html';
const AMP = 'a&b "q".txt';
const JS = 'javascript:alert(1)';

let fx: Fixture;
let srv: Running;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];

const title = HAVE_CHROMIUM ? 'directory listing in headless Chromium' : `directory listing in headless Chromium — SKIPPED: ${CHROMIUM} is not installed (apt-get install chromium)`;

describe.skipIf(!HAVE_CHROMIUM)(title, () => {
  beforeAll(async () => {
    fx = makeTree({
      site: {
        dir: {
          list: {
            dir: {
              'small.txt': 'x',
              'medium.txt': 'x'.repeat(300),
              'large.bin': 'x'.repeat(20_000),
              [XSS]: '<p>just a file</p>\n',
              [AMP]: 'amp\n',
              [JS]: 'js\n',
              'locked.txt': { content: 'no', mode: 0o000 },
              '.secret': 'hidden\n',
              subdir: { dir: { 'inner.txt': 'inner\n' } },
              'a-file-with-a-rather-long-name-that-has-to-wrap-on-a-phone-screen.tar.gz': 'z'.repeat(1500),
            },
          },
        },
      },
    });
    const config = writeConfig(fx.path('server.config.json'), { root: 'site', port: 0, listing: true, ...(SERVER_USER ? { user: SERVER_USER } : {}) });
    srv = await startServer(['--config', config]);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1024, height: 720 } });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
    fx?.cleanup();
  });

  /** The names in the listing's rows, in page order (not the parent link). */
  const names = (): Promise<string[]> =>
    page.$$eval('table tr td:nth-child(2) a', (links) => links.map((a) => a.textContent ?? '').filter((t) => t !== 'Parent Directory'));

  it('opens a listing that reads as Apache\'s', async () => {
    const res = await page.goto(`${srv.url}/list/`);
    expect(res?.status()).toBe(200);
    expect(await page.title()).toBe('Index of /list');
    expect(await page.textContent('h1')).toBe('Index of /list');
    expect(await names()).toEqual([XSS, AMP, 'a-file-with-a-rather-long-name-that-has-to-wrap-on-a-phone-screen.tar.gz', JS, 'large.bin', 'locked.txt', 'medium.txt', 'small.txt', 'subdir/']);
    // The unreadable file is marked; the dotfile is not there at all.
    const locked = page.locator('tr', { has: page.locator('a', { hasText: 'locked.txt' }) });
    expect(await locked.locator('td.denied').textContent()).toBe('forbidden');
    await page.screenshot({ path: path.join(ARTIFACTS, 'listing-desktop.png'), fullPage: true });
  });

  it('renders the XSS-named file as text, and no dialog fires', async () => {
    const link = page.locator('a', { hasText: 'onerror' });
    expect(await link.textContent()).toBe(XSS);
    // The only images on the page are the icons (broken here: keycard has no /icons/).
    const srcs = await page.$$eval('img', (imgs) => imgs.map((i) => i.getAttribute('src') ?? ''));
    expect(srcs.length).toBeGreaterThan(0);
    expect(srcs.every((s) => s.startsWith('/icons/'))).toBe(true);
    expect(await page.$$eval('img[onerror], [onerror]', (els) => els.length)).toBe(0);
    // Each hostile name's link resolves to its own file under /list/, over http.
    expect(await link.evaluate((a) => (a as HTMLAnchorElement).href)).toBe(`${srv.url}/list/%3cimg%20src=x%20onerror=alert(1)%3e.html`);
    expect(await page.locator('a', { hasText: AMP }).evaluate((a) => (a as HTMLAnchorElement).href)).toBe(`${srv.url}/list/a&b%20%22q%22.txt`);
    const js = page.locator('a', { hasText: 'javascript:' });
    expect(await js.evaluate((a) => (a as HTMLAnchorElement).protocol)).toBe('http:');
    expect(await js.evaluate((a) => (a as HTMLAnchorElement).href)).toBe(`${srv.url}/list/javascript:alert(1)`);
    // Following the XSS-named link shows the file; still no dialog.
    await link.click();
    await page.waitForURL(/onerror/);
    expect(await page.textContent('p')).toBe('just a file');
    await page.goBack();
    await page.waitForURL(`${srv.url}/list/`);
    expect(dialogs).toEqual([]);
  });

  it('clicks into a subdirectory and back through Parent Directory', async () => {
    await page.click('a:text-is("subdir/")');
    await page.waitForURL(`${srv.url}/list/subdir/`);
    expect(await page.textContent('h1')).toBe('Index of /list/subdir');
    expect(await names()).toEqual(['inner.txt']);
    await page.click('a:text-is("Parent Directory")');
    await page.waitForURL(`${srv.url}/list/`);
    expect(await page.textContent('h1')).toBe('Index of /list');
  });

  it('sorts by size when the Size header is clicked, and reverses on a second click', async () => {
    await page.click('th a:text-is("Size")');
    await page.waitForURL(`${srv.url}/list/?C=S;O=A`);
    const ascending = ['subdir/', 'small.txt', 'locked.txt', JS, AMP, XSS, 'medium.txt', 'a-file-with-a-rather-long-name-that-has-to-wrap-on-a-phone-screen.tar.gz', 'large.bin'];
    expect(await names()).toEqual(ascending);
    // The size column agrees: numbers grow down the page (directories show "-").
    const sizes = await page.$$eval('table tr td:nth-child(4)', (tds) => tds.map((td) => td.textContent ?? ''));
    expect(sizes.slice(1)).toEqual(['  - ', '  1 ', '  2 ', '  3 ', '  4 ', ' 19 ', '300 ', '1.5K', ' 20K']);
    await page.click('th a:text-is("Size")');
    await page.waitForURL(`${srv.url}/list/?C=S;O=D`);
    expect(await names()).toEqual([...ascending].reverse());
    expect(dialogs).toEqual([]);
  });

  it('is readable on a 390 px phone: no sideways scrolling', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    try {
      await phone.goto(`${srv.url}/list/`);
      const { scrollWidth, clientWidth } = await phone.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
      expect(clientWidth).toBe(390);
      await phone.screenshot({ path: path.join(ARTIFACTS, 'listing-phone.png'), fullPage: true }); // before asserting: look at it when it fails
      expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
      // Text is not shrunk to fit: the viewport meta keeps CSS pixels at the device width.
      expect(await phone.evaluate(() => parseFloat(getComputedStyle(document.querySelector('td a')!).fontSize))).toBeGreaterThanOrEqual(14);
      // The icon column (alt text only: keycard serves no /icons/) gives its room to the names.
      expect(await phone.locator('td:first-child').first().isVisible()).toBe(false);
      expect(await phone.locator('td.denied').isVisible()).toBe(true);
    } finally {
      await phone.close();
    }
  });
});
