// How fast the web app (web/) sends a burst through its outbox into a long conversation: alice writes
// N messages (default 130) in Debian's Chromium, each through the app's own send path (IndexedDB
// first, then sendMessage one at a time, in order), to bob, who is offline. Prints the time to queue
// them, the time until the outbox is empty, and milliseconds per message (docs/benchmarks.md, "Web
// app: a burst into a long conversation").
//
//   cd tests/browser && npm ci   # playwright-core, once (the browser tests do it too)
//   CHATD=build-test/tools/chatd/chatd node bench/web/burst.mjs [N] [runs]
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
process.env.LIBCHAT_WEB_ROOT ||= path.resolve(here, '../../web');
if (process.env.CHATD) process.env.CHATD = path.resolve(process.env.CHATD);
// The browser tests' harness (chatd on 127.0.0.1 port 0, Chromium through playwright-core, which
// node finds from the harness's folder: tests/browser/node_modules).
const harness = await import(path.resolve(here, '../../tests/browser/lib/harness.mjs'));
const { startChatd, launchBrowser, openApp, signUp, createDirect } = harness;

const count = Number(process.argv[2] || 130);
const runs = Number(process.argv[3] || 3);
const results = [];
for (let run = 0; run < runs; run++) {
  const server = await startChatd(['--rate-limits', 'off', '--spam', 'off']);
  const browser = await launchBrowser();
  try {
    const [alice, bob] = await Promise.all([openApp(browser, server), openApp(browser, server)]);
    await signUp(alice.page, 'alice');
    await signUp(bob.page, 'bob');
    await bob.context.close();
    await createDirect(alice.page, 'bob');
    const t = await alice.page.evaluate(async (n) => {
      const e = window.libchat.engine;
      const start = performance.now();
      for (let i = 0; i < n; i++) await e.send(e.openChatId, { body: `m${i}` });
      const queued = performance.now() - start;
      while (e.outbox.length) await new Promise((r) => setTimeout(r, 5));
      return { queued, sent: performance.now() - start };
    }, count);
    results.push(t.sent);
    console.log(`run ${run + 1}: ${count} messages queued in ${t.queued.toFixed(0)} ms, all sent in ${t.sent.toFixed(0)} ms ` +
                `(${(t.sent / count).toFixed(1)} ms a message)`);
  } finally {
    await browser.close();
    await server.stop();
  }
}
results.sort((a, b) => a - b);
const median = results[Math.floor(results.length / 2)];
console.log(`median: ${median.toFixed(0)} ms for ${count} messages, ${(median / count).toFixed(1)} ms a message`);
