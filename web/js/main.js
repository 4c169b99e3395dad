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
}

main();
