// The service worker: keeps the app's own files so that it opens with no connection (offline first;
// the messages themselves are in IndexedDB, db.js). Chat traffic (/ws) and attachments (/v1/) never
// pass through here.
//
//   the page ("/")            network first, the cached copy when offline
//   /r/<release>/...          cache first: those URLs never change (libchat/server/static_files.h)
//
// The page tells the worker which files it loaded ({cache: [urls]}), so no list of files is kept here.

const CACHE = 'libchat-app';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const urls = event.data && Array.isArray(event.data.cache) ? event.data.cache : [];
  event.waitUntil(caches.open(CACHE).then((cache) => Promise.all(urls.map(async (url) => {
    if (!(await cache.match(url))) await cache.add(url).catch(() => {});
  }))));
});

function isApp(url) {
  return url.origin === self.location.origin && !url.pathname.startsWith('/v1/') && url.pathname !== '/ws' &&
    !['/healthz', '/readyz', '/metrics'].includes(url.pathname);
}

async function pageFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) {
      await cache.put('/', response.clone());
      // A new release: the old release's files are no longer needed.
      const release = /\/r\/([0-9a-f]{16})\//.exec(await response.clone().text());
      if (release) {
        for (const key of await cache.keys()) {
          const m = /\/r\/([0-9a-f]{16})\//.exec(new URL(key.url).pathname);
          if (m && m[1] !== release[1]) await cache.delete(key);
        }
      }
    }
    return response;
  } catch (e) {
    const cached = await cache.match('/');
    if (cached) return cached;
    throw e;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || !isApp(url)) return;
  if (event.request.mode === 'navigate' || url.pathname === '/' || url.pathname === '/index.html') {
    event.respondWith(pageFirst(event.request));
  } else if (url.pathname.startsWith('/r/')) {
    event.respondWith(cacheFirst(event.request));
  }
});
