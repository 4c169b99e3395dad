// Offline first: alice has two browsers and bob one. Alice's first browser loses its network (Chromium's
// network emulation), writes two messages, is reloaded with no network at all (the app and its saved
// chats come from the service worker and IndexedDB), then comes back: both messages arrive once each,
// in the order written, on every device.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, launchBrowser, openApp, signUp, signIn, createDirect, openChat, send, bodies, until, screenshot,
  WAIT } from './lib/harness.mjs';

test('messages written offline go out once, in order, on every device', async () => {
  const server = await startChatd();
  const browser = await launchBrowser();
  try {
    const [phone, laptop, bob] = await Promise.all([openApp(browser, server), openApp(browser, server),
                                                    openApp(browser, server)]);
    await signUp(phone.page, 'alice');
    await signUp(bob.page, 'bob');
    await signIn(laptop.page, 'alice');
    await createDirect(phone.page, 'bob');
    await send(phone.page, 'before');
    await openChat(bob.page, 'Alice');
    await openChat(laptop.page, 'Bob');
    for (const p of [bob.page, laptop.page]) {
      await p.locator('[data-testid=message-body]', { hasText: 'before' }).waitFor({ timeout: WAIT });
    }
    // The service worker holds the app's files once it controls the page.
    await phone.page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller,
                                     null, { timeout: WAIT });
    await phone.page.waitForFunction(async () => (await caches.open('libchat-app').then((c) => c.keys())).length > 5,
                                     null, { timeout: WAIT });

    await phone.context.setOffline(true);
    await phone.page.locator('[data-testid=connection][data-state=offline]').waitFor({ timeout: WAIT });
    await send(phone.page, 'first offline');
    await send(phone.page, 'second offline');
    await until('two waiting messages', async () => (await phone.page.getByTestId('pending-message').count()) === 2);

    // No network at all, and the page reloaded: the app, its chats and the outbox are still there.
    await phone.page.reload();
    await openChat(phone.page, 'Bob');
    await until('the waiting messages after the reload',
      async () => (await phone.page.getByTestId('pending-message').count()) === 2);
    assert.deepEqual((await bodies(phone.page)).slice(-3), ['before', 'first offline', 'second offline']);
    await phone.page.getByTestId('connection').filter({ hasText: '2 messages waiting to be sent' }).waitFor();
    await screenshot(phone.page, 'offline');
    // Nobody else has them yet.
    assert.ok(!(await bodies(bob.page)).includes('first offline'));

    await phone.context.setOffline(false);
    const expected = ['before', 'first offline', 'second offline'];
    for (const [who, p] of [['bob', bob.page], ['alice laptop', laptop.page], ['alice phone', phone.page]]) {
      await until(`both on ${who}`, async () => {
        const got = (await bodies(p)).filter((b) => expected.includes(b));
        return got.length === 3 && (await p.getByTestId('pending-message').count()) === 0;
      });
      assert.deepEqual((await bodies(p)).filter((b) => expected.includes(b)), expected, who);
    }
    // Once, also after a reload from the server's copy (IndexedDB was synced, not appended twice).
    await bob.page.reload();
    await openChat(bob.page, 'Alice');
    await until('bob reloaded', async () => (await bodies(bob.page)).includes('second offline'));
    assert.deepEqual((await bodies(bob.page)).filter((b) => expected.includes(b)), expected);
  } finally {
    await browser.close();
    await server.stop();
  }
});
