// Three people in three browser contexts chat in a group: they see each other online, see typing, the
// sender's ticks turn from sent to read (per member), a reply quotes its message, and a deleted
// message becomes a tombstone everywhere. Screenshots of the sign-in screen and the conversation.
// A click on a chat entry opens the chat even when the list is redrawn between press and release.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, launchBrowser, openApp, signUp, createGroup, openChat, send, bodies, until, screenshot, WAIT,
  aliceAndBobInADirectChat } from './lib/harness.mjs';

test('a group chat: presence, typing, ticks to read, reply, delete', async () => {
  const server = await startChatd();
  const browser = await launchBrowser();
  try {
    const [alice, bob, carol] = await Promise.all([openApp(browser, server), openApp(browser, server),
                                                   openApp(browser, server)]);
    await screenshot(alice.page, 'sign-in');
    await signUp(alice.page, 'alice');
    await signUp(bob.page, 'bob');
    await signUp(carol.page, 'carol');

    await createGroup(alice.page, 'Weekend', ['bob', 'carol']);
    // The others learn of the group live (chatUpdate) and open it.
    await openChat(bob.page, 'Weekend');
    await openChat(carol.page, 'Weekend');

    // Presence: both others online, as alice's header says.
    await alice.page.getByTestId('conv-subtitle').filter({ hasText: '3 members, 2 online' }).waitFor({ timeout: WAIT });

    // Typing: bob types, alice sees it in the header.
    await bob.page.getByTestId('composer').pressSequentially('hel');
    await alice.page.getByTestId('conv-subtitle').filter({ hasText: 'Bob is typing' }).waitFor({ timeout: WAIT });
    await bob.page.getByTestId('composer').fill('');

    await send(alice.page, 'Hello both, train at 9?');
    for (const p of [bob.page, carol.page]) {
      await p.locator('[data-testid=message-body]', { hasText: 'Hello both, train at 9?' }).waitFor({ timeout: WAIT });
    }
    // Both have the chat open and visible: alice's ticks turn to read, and say so per member.
    const ticks = alice.page.locator('.msg.mine [data-testid=ticks]').last();
    await until('ticks turn to read', async () => (await ticks.getAttribute('data-state')) === 'read');
    await ticks.click();
    const detail = alice.page.getByTestId('tick-detail').last();
    await detail.filter({ hasText: 'Bob: read' }).waitFor({ timeout: WAIT });
    await detail.filter({ hasText: 'Carol: read' }).waitFor({ timeout: WAIT });

    // Bob replies to it; the reply quotes alice's message everywhere.
    const aliceMsg = bob.page.locator('.msg', { hasText: 'Hello both, train at 9?' });
    await aliceMsg.hover();
    await aliceMsg.getByTestId('reply').click();
    await send(bob.page, 'Yes!');
    await alice.page.locator('.msg', { hasText: 'Yes!' }).getByTestId('quote')
      .filter({ hasText: 'Hello both' }).waitFor({ timeout: WAIT });

    // Carol writes something and deletes it: a tombstone on every screen.
    await send(carol.page, 'oops, wrong chat');
    await alice.page.locator('[data-testid=message-body]', { hasText: 'oops, wrong chat' }).waitFor({ timeout: WAIT });
    const oops = carol.page.locator('.msg.mine', { hasText: 'oops, wrong chat' });
    await oops.hover();
    await oops.getByTestId('delete').click();
    await carol.page.getByRole('dialog', { name: 'Delete message' }).getByRole('button', { name: 'Delete' }).click();
    for (const p of [alice.page, bob.page, carol.page]) {
      await until('the tombstone', async () => !(await bodies(p)).includes('oops, wrong chat'));
    }
    await alice.page.locator('.msg.deleted').first().waitFor({ timeout: WAIT });

    // Carol leaves: alice sees one fewer online, and carol's last seen in the member list.
    await carol.context.close();
    await alice.page.getByTestId('conv-subtitle').filter({ hasText: '3 members, 1 online' }).waitFor({ timeout: WAIT });
    await screenshot(alice.page, 'conversation');
    await alice.page.getByTestId('chat-info-button').click();
    await alice.page.getByTestId('member').filter({ hasText: 'Carol' }).filter({ hasText: /last seen/ })
      .waitFor({ timeout: WAIT });
    await screenshot(alice.page, 'group-info');
    // Roles and members: bob becomes an admin, carol is removed and added back.
    await alice.page.getByLabel('Role of Bob').selectOption('admin');
    await alice.page.getByTestId('member').filter({ hasText: 'Bob' }).filter({ hasText: 'admin' }).waitFor({ timeout: WAIT });
    await alice.page.getByTestId('member').filter({ hasText: 'Carol' }).getByRole('button', { name: 'Remove' }).click();
    await until('carol removed', async () => (await alice.page.getByTestId('member').count()) === 2);
    await alice.page.getByPlaceholder('username to add').fill('carol');
    await alice.page.getByRole('button', { name: 'Add', exact: true }).click();
    await until('carol back', async () => (await alice.page.getByTestId('member').count()) === 3);
    await alice.page.keyboard.press('Escape');
    for (const text of ['Alice made Bob admin', 'Alice removed Carol', 'Alice added Carol']) {
      await alice.page.locator('.msg.system', { hasText: text }).waitFor({ timeout: WAIT });
    }
    // Bob leaves; the chat goes from his list, and alice sees it.
    await bob.page.getByTestId('chat-info-button').click();
    await bob.page.getByRole('button', { name: 'Leave group' }).click();
    await bob.page.getByRole('dialog', { name: 'Leave group' }).getByRole('button', { name: 'Leave' }).click();
    await bob.page.getByTestId('chat-item').filter({ hasText: 'Weekend' }).waitFor({ state: 'detached', timeout: WAIT });
    await alice.page.locator('.msg.system', { hasText: 'Bob left' }).waitFor({ timeout: WAIT });

    // Messages came once each, in one order.
    const expected = ['Hello both, train at 9?', 'Yes!'];
    assert.deepEqual((await bodies(alice.page)).filter((b) => expected.includes(b)), expected);
    assert.deepEqual([...alice.errors, ...bob.errors].map(String), []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

// The chat list is redrawn with every event (presence, typing, messages). An entry element replaced
// between the press and the release of the mouse made no click: seen as openChat timing out in loaded
// runs (browser_chat, browser_offline) after the entry had been found and clicked.
test('a chat entry pressed while the list is redrawn still opens its chat, also when the entry itself changes, and a focused entry keeps the focus when it moves', async () => {
  const server = await startChatd();
  const browser = await launchBrowser();
  try {
    const [alice, bob] = await aliceAndBobInADirectChat(browser, server);
    await createGroup(alice.page, 'Quiet', ['bob']);
    await openChat(bob.page, 'Quiet');
    await send(bob.page, 'first');
    const preview = (text) => alice.page.getByTestId('chat-preview').filter({ hasText: text });
    await preview('first').waitFor({ timeout: WAIT });

    // Press on the direct chat's entry (below 'Quiet'); a message in 'Quiet' redraws the list (it stays
    // first, so the entry under the mouse stays where it is); release.
    const pressAndReleaseAround = async (title, message) => {
      const box = await alice.page.getByTestId('chat-item').filter({ hasText: title }).boundingBox();
      await alice.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await alice.page.mouse.down();
      await send(bob.page, message);
      await preview(message).waitFor({ timeout: WAIT });
      await alice.page.mouse.up();
      await alice.page.getByTestId('conv-title').filter({ hasText: title }).waitFor({ timeout: WAIT });
    };
    await pressAndReleaseAround('Bob', 'second');
    // Now press on 'Quiet' itself: the message changes that very entry's preview and time.
    await pressAndReleaseAround('Quiet', 'third');

    // Keyboard focus on an entry stays there when a message moves the entry to the top of the list.
    await alice.page.getByTestId('chat-item').filter({ hasText: 'Bob' }).focus();
    await openChat(bob.page, 'Alice');
    await send(bob.page, 'fourth');
    await until('the direct chat moved to the top', async () =>
      (await alice.page.getByTestId('chat-item').first().textContent()).includes('fourth'));
    const focused = await alice.page.evaluate(() => {
      const a = document.activeElement;
      return a && a.dataset.testid === 'chat-item' ? a.textContent : `<${a ? a.tagName : 'nothing'}>`;
    });
    assert.ok(focused.includes('Bob'), `focus is on: ${focused}`);
    assert.deepEqual([...alice.errors, ...bob.errors].map(String), []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
