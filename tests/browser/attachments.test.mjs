// Attachments: alice sends a PDF (a few MiB, with a progress bar while it uploads) and a PNG; bob sees
// the image inline and downloads the PDF, byte for byte what alice sent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { deflateSync } from 'node:zlib';
import { startChatd, launchBrowser, aliceAndBobInADirectChat, send, until, screenshot, WAIT } from './lib/harness.mjs';

// A valid 16x16 PNG (solid colour), so that the browser can decode and show it.
function png() {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const w = 16, hgt = 16;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(hgt, 4);
  ihdr[8] = 8; ihdr[9] = 2;  // 8-bit RGB
  const rows = Buffer.alloc((w * 3 + 1) * hgt);
  for (let y = 0; y < hgt; y++) for (let x = 0; x < w; x++) rows.set([47, 111, 222], y * (w * 3 + 1) + 1 + x * 3);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
                        chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

test('a file uploads with a progress bar and downloads intact; an image shows inline', async () => {
  const server = await startChatd();
  const browser = await launchBrowser();
  try {
    const [alice, bob] = await aliceAndBobInADirectChat(browser, server);

    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(6 * 1024 * 1024)]);
    // Record the progress bar's values as the page sets them.
    await alice.page.evaluate(() => {
      window.progressSeen = [];
      new MutationObserver(() => {
        for (const bar of document.querySelectorAll('[data-testid=upload-progress]')) window.progressSeen.push(bar.value);
      }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
    });
    await alice.page.getByTestId('file-input').setInputFiles({ name: 'report.pdf', mimeType: 'application/pdf', buffer: pdf });
    // Not waiting for the bar itself: on a fast (or a busy) machine it may come and go between two polls.
    // The observer above saw every value it took.
    await alice.page.locator('[data-testid=upload][data-done=true]').waitFor({ timeout: 30000 });
    const seen = await alice.page.evaluate(() => window.progressSeen);
    assert.equal(Math.max(...seen), 100, `progress values: ${seen}`);

    await alice.page.getByTestId('file-input').setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: png() });

    // Bob: the image inline, decoded.
    const img = bob.page.getByTestId('inline-image');
    await img.waitFor({ timeout: WAIT });
    await until('the image decoded', () => img.evaluate((el) => el.complete && el.naturalWidth === 16));

    // Bob: the PDF as a download, identical to what alice sent.
    const button = bob.page.getByTestId('download').filter({ hasText: 'report.pdf' });
    await button.waitFor({ timeout: WAIT });
    await screenshot(bob.page, 'attachments');
    const [download] = await Promise.all([bob.page.waitForEvent('download', { timeout: 30000 }), button.click()]);
    assert.equal(download.suggestedFilename(), 'report.pdf');
    const got = await readFile(await download.path());
    assert.equal(got.length, pdf.length);
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(pdf).digest('hex'));
    assert.deepEqual([...alice.errors, ...bob.errors].map(String), []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

// The bug behind a flaky CI run: a conversation redrawn while an image loaded (here: the next message
// arriving) rebuilt the image's message as "Loading image…", and when the image came its node looked
// unchanged (the signature only said "an entry exists"), so it stayed "Loading image…" for good. The
// download is held back here so that the next message surely comes while it loads; and one failed
// download is tried again instead of waiting for some other redraw.
test('an inline image shows even when the conversation is redrawn while it loads, and after a failed download', async () => {
  const server = await startChatd();
  const browser = await launchBrowser();
  try {
    const [alice, bob] = await aliceAndBobInADirectChat(browser, server);

    let downloads = 0;
    await bob.page.route('**/v1/attachments/*', async (route) => {
      downloads += 1;
      // The first download fails (as a busy server's would); the second is answered late.
      if (downloads === 1) return route.fulfill({ status: 503, body: 'busy' });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return route.continue();
    });
    await alice.page.getByTestId('file-input').setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: png() });
    await until('the first download failed', () => downloads >= 1);
    await until('the second download began', () => downloads >= 2);
    await send(alice.page, 'after the image');
    await bob.page.locator('[data-testid=message-body]', { hasText: 'after the image' }).waitFor({ timeout: WAIT });

    const img = bob.page.getByTestId('inline-image');
    await img.waitFor({ timeout: WAIT });
    await until('the image decoded', () => img.evaluate((el) => el.complete && el.naturalWidth === 16));
    assert.equal(downloads, 2);
  } finally {
    await browser.close();
    await server.stop();
  }
});
