// Errors are shown in words: a wrong password, a taken username, an unknown user, and a message the
// server refuses (the recipient blocked the sender) all tell the person what happened. Also: report,
// and the devices list.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, launchBrowser, openApp, signUp, signIn, createDirect, openChat, send, screenshot, WAIT }
  from './lib/harness.mjs';

test('a bad password and server errors show readable messages', async () => {
  const server = await startChatd();
  const browser = await launchBrowser();
  try {
    const [alice, bob, intruder] = await Promise.all([openApp(browser, server), openApp(browser, server),
                                                      openApp(browser, server)]);
    await signUp(alice.page, 'alice');
    await signUp(bob.page, 'bob');

    // Wrong password.
    await intruder.page.locator('#login-username').fill('alice');
    await intruder.page.locator('#login-password').fill('not-her-password');
    await intruder.page.getByRole('button', { name: 'Sign in' }).click();
    const authError = intruder.page.getByTestId('auth-error');
    await authError.filter({ hasText: 'wrong username or password' }).waitFor({ timeout: WAIT });
    await screenshot(intruder.page, 'bad-password');
    // A taken username.
    await intruder.page.locator('#reg-username').fill('bob');
    await intruder.page.locator('#reg-password').fill('whatever-password');
    await intruder.page.getByRole('button', { name: 'Create account' }).click();
    await authError.filter({ hasText: 'Could not create the account' }).filter({ hasText: /bob/ }).waitFor({ timeout: WAIT });
    assert.match(await authError.textContent(), /Already exists/);

    // An unknown user.
    await alice.page.getByTestId('new-direct').click();
    await alice.page.getByLabel('Username of the person').fill('nobody');
    await alice.page.getByRole('button', { name: 'Start chat' }).click();
    await alice.page.getByTestId('notice').filter({ hasText: 'Not found' }).waitFor({ timeout: WAIT });

    // Bob reports a message, then blocks alice; what alice sends next is refused, and says why.
    await createDirect(alice.page, 'bob');
    await send(alice.page, 'buy cheap watches');
    await openChat(bob.page, 'Alice');
    const spam = bob.page.locator('.msg.theirs', { hasText: 'buy cheap watches' });
    await spam.hover();
    await spam.getByTestId('report').click();
    await bob.page.getByLabel('Why? (optional)').fill('advertising');
    await bob.page.getByRole('dialog').getByRole('button', { name: 'Report' }).click();
    await bob.page.getByTestId('notice').filter({ hasText: 'Reported' }).waitFor({ timeout: WAIT });

    await bob.page.getByTestId('chat-info-button').click();
    await bob.page.getByTestId('block').click();
    await bob.page.getByTestId('block').filter({ hasText: 'Unblock' }).waitFor({ timeout: WAIT });
    await bob.page.keyboard.press('Escape');

    await send(alice.page, 'hello?');
    const refused = alice.page.getByTestId('pending-message').filter({ hasText: 'hello?' });
    await refused.locator('.send-error').filter({ hasText: /Not sent\. Not allowed: .*block/ }).waitFor({ timeout: WAIT });
    await alice.page.getByTestId('notice').filter({ hasText: 'Not allowed' }).first().waitFor({ timeout: WAIT });
    await screenshot(alice.page, 'refused');
    // Discarding it removes it from the outbox.
    await refused.getByRole('button', { name: 'Discard' }).click();
    await refused.waitFor({ state: 'detached', timeout: WAIT });

    // Devices: one, this browser.
    await alice.page.getByTestId('devices').click();
    await alice.page.getByTestId('device-list').filter({ hasText: 'this browser' }).waitFor({ timeout: WAIT });
    assert.equal(await alice.page.getByTestId('device-list').locator('li').count(), 1);
    await alice.page.keyboard.press('Escape');

    // Sign in works with the right password after all that.
    await signIn(intruder.page, 'alice');
  } finally {
    await browser.close();
    await server.stop();
  }
});
