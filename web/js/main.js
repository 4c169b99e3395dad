// The web app's entry point: open the local copy, show it, then connect (docs/architecture.md, "The web app").

import { LocalStore } from './db.js';
import { ChatEngine } from './engine.js';
import { CallController } from './calls.js';
import { App } from './ui/app.js';

async function main() {
  const root = document.getElementById('app');
  let store;
  try {
    store = await LocalStore.open();
  } catch (e) {
    root.textContent = `This browser does not let the app keep data (IndexedDB: ${e.message}). Private windows of some browsers do not.`;
    return;
  }
  const engine = new ChatEngine(store);
  await engine.load();
  const calls = new CallController(engine);
  const app = new App(root, engine, calls);
  app.start();
  engine.connect();
  // For the browser tests and for debugging from the console.
  window.libchat = { engine, calls, app };
  keepForOffline();
}

// Registers the service worker (sw.js) and hands it the files this page loaded, so that the next
// visit opens with no connection. Service workers need a secure context (https, or localhost).
async function keepForOffline() {
  if (!('serviceWorker' in navigator)) return;
  try {
    const registration = await navigator.serviceWorker.register('/sw.js');
    const worker = registration.active || registration.waiting || registration.installing;
    const ready = await navigator.serviceWorker.ready;
    const files = performance.getEntriesByType('resource').map((e) => e.name)
      .filter((u) => new URL(u).origin === location.origin && new URL(u).pathname.startsWith('/r/'));
    (ready.active || worker).postMessage({ cache: ['/', ...files] });
  } catch (e) {
    console.warn('no offline copy of the app:', e.message);
  }
}

main();
