// The app's local copy in IndexedDB: what it shows with no connection, and what it resumes from.
//
//   kv        key -> value: "session" {token, user, device}, "iceServers"
//   chats     chatId -> {chat, role, head, read, unread, lastMessage, participants, last, oldest, hasOlder}
//             `last` is the cursor of protocol.md rule 2: the highest seq held with no gap below it.
//   messages  [chatId, seq] -> the entry as the server sent it
//   receipts  [chatId, userId] -> {chatId, userId, delivered, read}
//   users     id -> {id, username, displayName}
//   outbox    clientId -> {clientId, chatId, kind, body, attachments, replyTo, order, createdAt, error?}
//             messages written but not yet acknowledged by sendMessage, replayed in `order`.

const DB_NAME = 'libchat';
const DB_VERSION = 1;

function promisify(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export class LocalStore {
  static async open(name = DB_NAME) {
    const req = indexedDB.open(name, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore('kv');
      db.createObjectStore('chats', { keyPath: 'chatId' });
      db.createObjectStore('messages', { keyPath: ['chatId', 'seq'] });
      db.createObjectStore('receipts', { keyPath: ['chatId', 'userId'] });
      db.createObjectStore('users', { keyPath: 'id' });
      const outbox = db.createObjectStore('outbox', { keyPath: 'clientId' });
      outbox.createIndex('order', 'order');
    };
    const db = await promisify(req);
    return new LocalStore(db);
  }

  constructor(db) {
    this.db = db;
  }

  tx(stores, mode, fn) {
    return new Promise((resolve, reject) => {
      const t = this.db.transaction(stores, mode);
      let result;
      t.oncomplete = () => resolve(result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error || new Error('transaction aborted'));
      result = fn(t);
    });
  }

  async get(store, key) {
    return this.tx([store], 'readonly', (t) => {
      const out = {};
      t.objectStore(store).get(key).onsuccess = (e) => { out.value = e.target.result; };
      return out;
    }).then((o) => o.value);
  }

  put(store, value, key) {
    return this.tx([store], 'readwrite', (t) => {
      if (key === undefined) t.objectStore(store).put(value);
      else t.objectStore(store).put(value, key);
    });
  }

  putMany(store, values) {
    if (values.length === 0) return Promise.resolve();
    return this.tx([store], 'readwrite', (t) => {
      const s = t.objectStore(store);
      for (const v of values) s.put(v);
    });
  }

  delete(store, key) {
    return this.tx([store], 'readwrite', (t) => t.objectStore(store).delete(key));
  }

  async all(store, range = undefined, index = undefined) {
    return this.tx([store], 'readonly', (t) => {
      const out = { value: [] };
      const source = index ? t.objectStore(store).index(index) : t.objectStore(store);
      source.getAll(range).onsuccess = (e) => { out.value = e.target.result; };
      return out;
    }).then((o) => o.value);
  }

  /** Entries of `chatId` with seq in [from, to], oldest first. */
  messages(chatId, from = 0, to = Number.MAX_SAFE_INTEGER) {
    return this.all('messages', IDBKeyRange.bound([chatId, from], [chatId, to]));
  }

  /** The newest `limit` entries of `chatId` below `before`, oldest first. */
  async newestMessages(chatId, before, limit) {
    return this.tx(['messages'], 'readonly', (t) => {
      const out = { value: [] };
      const range = IDBKeyRange.bound([chatId, 0], [chatId, before], false, true);
      const req = t.objectStore('messages').openCursor(range, 'prev');
      req.onsuccess = () => {
        const c = req.result;
        if (!c || out.value.length >= limit) return;
        out.value.push(c.value);
        c.continue();
      };
      return out;
    }).then((o) => o.value.reverse());
  }

  deleteChat(chatId) {
    return this.tx(['chats', 'messages', 'receipts'], 'readwrite', (t) => {
      t.objectStore('chats').delete(chatId);
      t.objectStore('messages').delete(IDBKeyRange.bound([chatId, 0], [chatId, Number.MAX_SAFE_INTEGER]));
      t.objectStore('receipts').delete(IDBKeyRange.bound([chatId, 0], [chatId, Number.MAX_SAFE_INTEGER]));
    });
  }

  /** Forgets everything (log out, or another user signs in on this browser). */
  clear() {
    const names = ['kv', 'chats', 'messages', 'receipts', 'users', 'outbox'];
    return this.tx(names, 'readwrite', (t) => {
      for (const n of names) t.objectStore(n).clear();
    });
  }
}
