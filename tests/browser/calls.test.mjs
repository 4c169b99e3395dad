// A video call between two browsers: Chromium's fake camera and microphone, the ICE candidates relayed
// by chatd, and both sides reach "connected"; hanging up ends it on both and leaves a call entry.

import { test } from 'node:test';
import { startChatd, launchBrowser, aliceAndBobInADirectChat, screenshot, WAIT } from './lib/harness.mjs';

test('a video call between two pages reaches connected on both sides', async () => {
  const server = await startChatd();
  const browser = await launchBrowser({ media: true });
  try {
    const [alice, bob] = await aliceAndBobInADirectChat(browser, server);

    await alice.page.getByTestId('call-video').click();
    await alice.page.getByTestId('call-state').filter({ hasText: 'Ringing' }).waitFor({ timeout: WAIT });
    // Bob's browser rings; the Accept button has the focus, so Enter answers.
    await bob.page.getByTestId('call-state').filter({ hasText: 'Incoming video call' }).waitFor({ timeout: WAIT });
    await bob.page.keyboard.press('Enter');

    for (const p of [alice.page, bob.page]) {
      await p.locator('[data-testid=call-state][data-state=connected]').waitFor({ timeout: 20000 });
    }
    // Video flows: the remote element plays frames.
    await bob.page.waitForFunction(() => {
      const v = document.querySelector('.call-panel video.remote');
      return v && v.videoWidth > 0;
    }, null, { timeout: WAIT });
    await screenshot(bob.page, 'call');

    await alice.page.getByTestId('call-hangup').click();
    await bob.page.getByTestId('call-ended').waitFor({ timeout: WAIT });
    // The call entry, in both conversations.
    for (const p of [alice.page, bob.page]) {
      await p.locator('.msg.system', { hasText: /Video call, \d+:\d\d/ }).waitFor({ timeout: WAIT });
    }
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('a page that loses its connection while it rings stops ringing when the call is over, and one that reloads rings again and answers', async () => {
  const server = await startChatd();
  const browser = await launchBrowser({ media: true });
  try {
    const [alice, bob] = await aliceAndBobInADirectChat(browser, server);
    const incoming = () => bob.page.getByTestId('call-state').filter({ hasText: 'Incoming audio call' });

    // Bob's connection drops while it rings and Alice gives up meanwhile: the callEnded never reaches
    // him, the call's entry does once he is back, and his page stops ringing.
    await alice.page.getByTestId('call-audio').click();
    await incoming().waitFor({ timeout: WAIT });
    await bob.context.setOffline(true);
    await bob.page.locator('[data-testid=connection][data-state=offline]').waitFor({ timeout: WAIT });
    await alice.page.getByTestId('call-hangup').click();
    await alice.page.getByTestId('call-state').waitFor({ state: 'detached', timeout: WAIT });
    await bob.context.setOffline(false);
    await bob.page.getByTestId('call-ended').waitFor({ timeout: WAIT });
    await incoming().waitFor({ state: 'detached', timeout: WAIT });

    // Bob's page reloads while the next call rings: signed in again, it rings again, and answers.
    await alice.page.getByTestId('call-audio').click();
    await incoming().waitFor({ timeout: WAIT });
    await bob.page.reload();
    await incoming().waitFor({ timeout: WAIT });
    await bob.page.getByTestId('call-accept').click();
    for (const p of [alice.page, bob.page]) {
      await p.locator('[data-testid=call-state][data-state=connected]').waitFor({ timeout: 20000 });
    }
    await bob.page.getByTestId('call-hangup').click();
    await alice.page.getByTestId('call-ended').waitFor({ timeout: WAIT });
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('a page cut off while it rings stops ringing by itself at the ring timeout', async () => {
  const server = await startChatd(['--call-ring-timeout', '2']);
  const browser = await launchBrowser({ media: true });
  try {
    const [alice, bob] = await aliceAndBobInADirectChat(browser, server);
    await alice.page.getByTestId('call-audio').click();
    await bob.page.getByTestId('call-state').filter({ hasText: 'Incoming audio call' }).waitFor({ timeout: WAIT });
    // Nothing more reaches Bob (as when the server node holding the call dies): his page gives up at
    // ringUntil and a few seconds of grace.
    await bob.context.setOffline(true);
    await bob.page.getByTestId('call-ended').filter({ hasText: 'No answer' }).waitFor({ timeout: 15000 });
    await alice.page.getByTestId('call-ended').filter({ hasText: 'No answer' }).waitFor({ timeout: WAIT });
  } finally {
    await browser.close();
    await server.stop();
  }
});
