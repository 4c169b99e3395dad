// History paging: a browser that has never held a long chat shows its newest page; scrolling up (or
// the "Load older messages" button, for the keyboard) brings the older pages, in order, once each.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, launchBrowser, openApp, signUp, signIn, createDirect, openChat, bodies, until, WAIT }
  from './lib/harness.mjs';

const COUNT = 130;

test('older messages page in on scroll-up and with the keyboard', async () => {
  // Rate limits and spam scoring off: alice writes 130 messages in a second.
  const server = await startChatd(['--rate-limits', 'off', '--spam', 'off']);
  const browser = await launchBrowser();
  try {
    const [alice, phone] = await Promise.all([openApp(browser, server), openApp(browser, server)]);
    await signUp(alice.page, 'alice');
    await signUp(phone.page, 'bob');
    await phone.context.close();
    await createDirect(alice.page, 'bob');
    // Messages shown stay in place while more arrive: an element taken out of the list and put back
    // (the whole list replaced on each frame) makes the browser lay out every message again, and a
    // burst into a long conversation then took ~40 ms a message. Counted: message elements removed
    // from alice's list that are back in it at the end.
    await alice.page.evaluate(() => {
      const list = document.querySelector('[data-testid=messages]');
      window.removedShown = new Set();
      window.listObserver = new MutationObserver((records) => {
        for (const r of records) for (const n of r.removedNodes) if (n.dataset && n.dataset.seq) window.removedShown.add(n);
      });
      window.listObserver.observe(list, { childList: true });
    });
    // Through the app's own outbox, in order.
    await alice.page.evaluate(async (n) => {
      const e = window.libchat.engine;
      for (let i = 0; i < n; i++) await e.send(e.openChatId, { body: `m${i}` });
    }, COUNT);
    await until('all sent', () => alice.page.evaluate(() => window.libchat.engine.outbox.length === 0), 30000);
    await alice.page.locator('[data-testid=message-body]', { hasText: `m${COUNT - 1}` }).waitFor({ timeout: WAIT });
    const movedBack = await alice.page.evaluate(() => {
      window.listObserver.disconnect();
      return [...window.removedShown].filter((n) => n.isConnected).length;
    });
    assert.equal(movedBack, 0, 'message elements taken out of the list and put back');

    // Bob signs in on a browser that holds nothing yet.
    const bob = await openApp(browser, server);
    await signIn(bob.page, 'bob');
    await openChat(bob.page, 'Alice');
    await bob.page.locator('[data-testid=message-body]', { hasText: `m${COUNT - 1}` }).waitFor({ timeout: WAIT });
    let shown = await bodies(bob.page);
    assert.ok(shown.length <= 60, `first page only: ${shown.length}`);
    assert.ok(!shown.includes('m0'));

    // Scrolling to the top loads the next page.
    await bob.page.getByTestId('messages').evaluate((el) => { el.parentElement.scrollTop = 0; });
    await until('a second page', async () => (await bodies(bob.page)).length > shown.length);
    // The rest with the keyboard: focus the button, Enter, until there is nothing older.
    for (let i = 0; i < 5 && !(await bodies(bob.page)).includes('m0'); i++) {
      const button = bob.page.getByTestId('load-older');
      if (await button.isHidden()) {
        await bob.page.getByTestId('messages').evaluate((el) => { el.parentElement.scrollTop = 0; });
      } else {
        await button.focus();
        await bob.page.keyboard.press('Enter');
      }
      await bob.page.waitForTimeout(300);
    }
    shown = await bodies(bob.page);
    assert.deepEqual(shown, Array.from({ length: COUNT }, (_, i) => `m${i}`));
    await until('nothing older to load', () => bob.page.getByTestId('load-older').isHidden());
  } finally {
    await browser.close();
    await server.stop();
  }
});
