// What every browser test needs: its own chatd (127.0.0.1, port 0, a temporary data folder, stopped by
// PID at the end), Debian's Chromium driven by playwright-core (never a downloaded browser), and the
// app's screens: sign up, open a chat, send, read what is shown.
//
// Environment (set by CTest, tests/browser/CMakeLists.txt): CHATD (the binary), LIBCHAT_WEB_ROOT (the
// web/ folder), LIBCHAT_BROWSER_ARTIFACTS (where screenshots go).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const here = path.dirname(new URL(import.meta.url).pathname);
export const WEB_ROOT = process.env.LIBCHAT_WEB_ROOT || path.resolve(here, '../../../web');
export const ARTIFACTS = process.env.LIBCHAT_BROWSER_ARTIFACTS || path.resolve(here, '../artifacts');
export const WAIT = 10000;

/** Starts chatd; resolves with {url, port, pid, stop(), log()}. Always call stop() (in a finally). */
export async function startChatd(extraArgs = []) {
  const binary = process.env.CHATD;
  if (!binary || !existsSync(binary)) throw new Error(`CHATD must name the chatd binary (got '${binary}')`);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'libchat-browser-'));
  const args = ['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--password-cost', 'minimum',
                '--web-root', WEB_ROOT, '--retention-interval-s', '0', ...extraArgs];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`chatd did not start within 15 s:\n${stderr}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /chatd listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chatd exited with ${code} before listening:\n${stderr}`));
    });
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    port,
    pid: child.pid,
    url: `http://127.0.0.1:${port}/`,
    log: () => stderr,
    async stop() {
      // Exactly this process: SIGTERM (clean shutdown), SIGKILL if it has not exited in 5 s.
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, 'SIGTERM');
        const timer = setTimeout(() => {
          if (child.exitCode === null) process.kill(child.pid, 'SIGKILL');
        }, 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Launches Debian's Chromium headless. Playwright gives every launch a fresh, empty profile
 * (--user-data-dir in a new temporary folder), removed on close. `media`: fake camera and microphone
 * that need no permission prompt, for calls.
 */
export async function launchBrowser({ media = false } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (bash scripts/deps.sh)`);
  }
  const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync'];
  if (media) {
    args.push('--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
              '--allow-loopback-in-peer-connection');
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

/** A browser context (one person's browser) with a page on the app. */
export async function openApp(browser, server, options = {}) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 720 }, ...options });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource|ERR_INTERNET_DISCONNECTED|WebSocket/.test(m.text())) {
      errors.push(new Error(m.text()));
    }
  });
  await page.goto(server.url);
  return { context, page, errors };
}

/** Registers `name` through the app's form and waits for the messenger. */
export async function signUp(page, name, password = `password-${name}`) {
  await page.locator('#reg-username').fill(name);
  await page.locator('#reg-display').fill(name[0].toUpperCase() + name.slice(1));
  await page.locator('#reg-password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByTestId('me').waitFor({ timeout: WAIT });
}

export async function signIn(page, name, password = `password-${name}`) {
  await page.locator('#login-username').fill(name);
  await page.locator('#login-password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('me').waitFor({ timeout: WAIT });
}

/** Creates a group through the dialog and leaves it open. */
export async function createGroup(page, name, members) {
  await page.getByTestId('new-group').click();
  await page.getByLabel('Group name').fill(name);
  await page.getByLabel('Members (usernames, separated by commas)').fill(members.join(', '));
  await page.getByRole('button', { name: 'Create group' }).click();
  await page.getByTestId('conv-title').filter({ hasText: name }).waitFor({ timeout: WAIT });
}

export async function createDirect(page, username) {
  await page.getByTestId('new-direct').click();
  await page.getByLabel('Username of the person').fill(username);
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByTestId('conv-title').waitFor({ timeout: WAIT });
}

/** Opens the chat whose list entry shows `title`. */
export async function openChat(page, title) {
  const item = page.getByTestId('chat-item').filter({ hasText: title });
  await item.first().waitFor({ timeout: WAIT });
  await item.first().click();
  await page.getByTestId('conv-title').filter({ hasText: title }).waitFor({ timeout: WAIT });
}

export async function send(page, text) {
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('composer').press('Enter');
}

/** The bodies of the messages shown in the open conversation, in order (sent and waiting). */
export function bodies(page) {
  return page.locator('[data-testid=messages] [data-testid=message-body]').allTextContents();
}

/** Waits until `fn()` is truthy (polling), or throws with `what`. */
export async function until(what, fn, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Alice and bob, signed up in pages of their own, in a direct chat that both have open. */
export async function aliceAndBobInADirectChat(browser, server) {
  const [alice, bob] = await Promise.all([openApp(browser, server), openApp(browser, server)]);
  await signUp(alice.page, 'alice');
  await signUp(bob.page, 'bob');
  await createDirect(alice.page, 'bob');
  await openChat(bob.page, 'Alice');
  return [alice, bob];
}
