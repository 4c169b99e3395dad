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
