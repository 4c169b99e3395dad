// ChatEngine: the app's model of the user's chats, kept in IndexedDB (db.js) and in step with chatd
// through one Connection (protocol.js), following docs/protocol.md's "Rules for client writers":
//
//  * one order: entries are shown by seq; `chat.last` is the highest seq held with no gap below (rule 2);
//  * connect order hello -> resume (or login) -> sync from the stored cursors (rule 3);
//  * entries at or below `last` are dropped as duplicates; one beyond last+1 is a gap: it is kept and
//    the chat is synced from `last` (rules 4 and 5);
//  * what is stored is acknowledged with `ack` (rule 6), batched;
//  * every message goes through the outbox (outbox.js): written to IndexedDB with its clientId first,
//    then sent one at a time in the order written, resent with the same clientId after a failure (rule 7).
//
// The UI reads the public fields and listens for "change" events ({detail: {what, chatId}}).

import { Connection, ProtocolError } from './protocol.js';
import { Outbox } from './outbox.js';

const HISTORY_PAGE = 50;
const SYNC_PAGE = 200;
const TYPING_RENEW_MS = 3000;
const TYPING_IDLE_MS = 4000;
const TYPING_SHOWN_MS = 6000;
const ACK_DELAY_MS = 300;

export const USER_KINDS = new Set(['text', 'image', 'audio', 'video', 'document']);


function parseBody(entry) {
  try {
    return JSON.parse(entry.body || '{}');
  } catch {
    return {};
  }
}

export class ChatEngine extends EventTarget {
  constructor(store, { url } = {}) {
    super();
    this.store = store;
    this.url = url;
    this.session = null;          // {token, user, device}
    this.chats = new Map();       // chatId -> chat state (see db.js)
    this.messages = new Map();    // chatId -> Map(seq -> entry)
    this.receipts = new Map();    // chatId -> Map(userId -> {delivered, read})
    this.users = new Map();       // id -> user
    this.presence = new Map();    // userId -> {visible, online, lastSeen}
    this.typing = new Map();      // chatId -> Map(userId -> expiry ms)
    this.outboxQueue = new Outbox(this);
    this.refreshAsked = new Map();    // chatId -> the number of the last getChat asked
    this.refreshApplied = new Map();  // chatId -> the number of the newest getChat answer applied
    this.blocked = new Set();
    this.openChatId = null;
    this.connState = 'offline';
    this.conn = null;
    this.syncing = new Set();
    this.ackTimers = new Map();
    this.lookups = new Map();
    this.typingSent = new Map();
    this.callHandler = null;     // calls.js registers itself for call events
    this.sessionStarted = false;
  }

  emit(what, chatId = null) {
    this.dispatchEvent(new CustomEvent('change', { detail: { what, chatId } }));
  }

  /** Shows an error to the person (the UI listens for "problem"). */
  problem(error, context) {
    this.dispatchEvent(new CustomEvent('problem', { detail: { error, context } }));
  }

  // ---- Start-up: everything stored, shown before any connection ----

  async load() {
    this.session = (await this.store.get('kv', 'session')) || null;
    for (const c of await this.store.all('chats')) this.chats.set(c.chatId, c);
    for (const u of await this.store.all('users')) this.users.set(u.id, u);
    for (const r of await this.store.all('receipts')) this.receiptMap(r.chatId).set(r.userId, r);
    await this.outboxQueue.load();
    this.emit('all');
  }

  get me() {
    return this.session ? this.session.user : null;
  }

  /** Opens the connection; with a stored session it resumes and syncs on every (re)connect. */
  connect() {
    if (this.conn) return;
    this.conn = new Connection({
      url: this.url,
      onOpen: (conn) => this.onConnectionOpen(conn),
      onEvent: (name, data) => this.onEvent(name, data),
      onState: (state, detail) => {
        this.connState = state;
        if (state !== 'online') this.sessionStarted = false;
        this.emit('connection');
        if (state === 'online') this.flushOutbox();
        if (detail.close && detail.close.code === 1008) this.problem(new ProtocolError('unavailable',
          'the server dropped messages it could not deliver in time; catching up'), 'connection');
      },
      onSessionLost: (why) => this.sessionLost(why),
    });
    this.conn.start();
  }

  request(cmd, args) {
    if (!this.conn) return Promise.reject(new ProtocolError('unavailable', 'not connected to the server'));
    return this.conn.request(cmd, args);
  }

  async onConnectionOpen() {
    if (!this.session) return;  // The login screen uses the connection as it is.
    await this.request('resume', { token: this.session.token });
    await this.startSession();
  }

  // After resume or login: live events already flow (the server registers the connection before it
  // answers either), so syncing now misses nothing.
  async startSession() {
    this.sessionStarted = true;
    await this.syncAll();
    this.refreshBlocked().catch(() => {});
  }

  // ---- Accounts ----

  async register(username, password, displayName) {
    const args = { username, password };
    if (displayName) args.displayName = displayName;
    return this.request('register', args);
  }

  async login(username, password) {
    const r = await this.request('login', {
      username, password, device: { kind: 'browser', name: browserName() },
    });
    const previous = await this.store.get('kv', 'session');
    if (previous && previous.user.id !== r.user.id) {
      await this.store.clear();  // Another account's copy must not show.
      this.resetMemory();
    }
    this.session = { token: r.token, user: r.user, device: r.device };
    await this.store.put('kv', this.session, 'session');
    this.users.set(r.user.id, r.user);
    this.emit('session');
    await this.startSession();
    this.flushOutbox();
    return r;
  }

  async logout() {
    try {
      await this.request('logout');
    } catch (e) {
      // Offline: forget the device locally; its token stays valid until removed from another device.
      if (!(e instanceof ProtocolError) || e.code !== 'unavailable') throw e;
    }
    await this.sessionLost('logged out');
  }

  async sessionLost(why) {
    this.session = null;
    await this.store.clear();
    this.resetMemory();
    if (this.conn) {
      this.conn.stop();
      this.conn = null;
    }
    this.emit('session', why);
    this.connect();
  }

  resetMemory() {
    this.chats.clear();
    this.messages.clear();
    this.receipts.clear();
    this.users.clear();
    this.presence.clear();
    this.typing.clear();
    this.outboxQueue.items = [];
    this.openChatId = null;
  }

  listDevices() {
    return this.request('listDevices');
  }

  removeDevice(deviceId) {
    return this.request('removeDevice', { deviceId });
  }

  // ---- Chats ----

  chatState(chatId) {
    return this.chats.get(chatId);
  }

  async saveChat(c) {
    this.chats.set(c.chatId, c);
    await this.store.put('chats', c);
  }

  // For state objects that may have been forgotten meanwhile (left, removed): saved only if still held.
  async saveIfHeld(c) {
    if (this.chats.get(c.chatId) === c) await this.saveChat(c);
  }

  async syncAll() {
    const list = await this.request('listChats');
    const seen = new Set();
    for (const s of list.chats) {
      const chatId = s.chat.id;
      seen.add(chatId);
      const prev = this.chats.get(chatId) || { chatId, last: 0, oldest: 0, hasOlder: true, participants: null };
      const c = { ...prev, chat: s.chat, role: s.role, head: Math.max(prev.head || 0, s.head), read: s.read,
                  unread: s.unread, lastMessage: pickNewest(prev.lastMessage, s.lastMessage) };
      await this.saveChat(c);
    }
    for (const chatId of [...this.chats.keys()]) {
      if (!seen.has(chatId)) await this.forgetChat(chatId);
    }
    this.emit('chats');
    await Promise.all([...this.chats.values()].filter((c) => !c.participants).map((c) => this.refreshChat(c.chatId)));
    // Chats this browser has never held: the newest page by history (older pages on scroll-up).
    const fresh = [...this.chats.values()].filter((c) => c.last === 0);
    await Promise.all(fresh.map((c) => this.loadNewest(c.chatId)));
    // The others: everything after the stored cursor, in pages.
    const cursors = {};
    for (const c of this.chats.values()) if (c.last > 0 && c.last < Number.MAX_SAFE_INTEGER) cursors[c.chatId] = c.last;
    await this.syncFrom(cursors);
    if (this.openChatId) this.refreshReceipts(this.openChatId).catch(() => {});
    this.refreshPresence().catch(() => {});
    this.emit('all');
  }

  async syncFrom(cursors) {
    let wanted = { ...cursors };
    for (let round = 0; Object.keys(wanted).length > 0 && round < 50; ++round) {
      const r = await this.request('sync', { chats: wanted, limit: SYNC_PAGE });
      const next = {};
      for (const page of r.chats) {
        const c = this.chats.get(page.chatId);
        if (!c) continue;
        for (const m of page.messages) await this.applyEntry(m, { fromSync: true });
        // A page is contiguous from where it started (entries it skipped are gone by retention or
        // predate our joining): its end is held without a gap; without more, so is the head.
        const end = page.messages.length ? page.messages[page.messages.length - 1].seq : 0;
        const reached = page.hasMore ? end : Math.max(end, page.head);
        if (reached > c.last) {
          c.last = reached;
          c.head = Math.max(c.head || 0, page.head);
          await this.saveIfHeld(c);
        }
        this.scheduleAck(page.chatId);
        if (page.hasMore && end > (wanted[page.chatId] || 0)) next[page.chatId] = end;
      }
      if (!r.more) break;
      wanted = next;
    }
  }

  async syncChat(chatId) {
    if (this.syncing.has(chatId) || this.connState !== 'online') return;
    const c = this.chats.get(chatId);
    if (!c) return;
    this.syncing.add(chatId);
    try {
      await this.syncFrom({ [chatId]: c.last });
    } catch (e) {
      if (!(e instanceof ProtocolError && e.code === 'unavailable')) this.problem(e, 'sync');
    } finally {
      this.syncing.delete(chatId);
    }
  }

  /** The newest page of a chat this browser holds nothing of. */
  async loadNewest(chatId) {
    const r = await this.request('history', { chatId, limit: HISTORY_PAGE });
    const c = this.chats.get(chatId);
    if (!c) return;
    const msgs = [...r.messages].reverse();
    await this.storeEntries(chatId, msgs);
    c.last = Math.max(c.last, msgs.length ? msgs[msgs.length - 1].seq : 0, c.head || 0);
    c.oldest = msgs.length ? msgs[0].seq : c.last + 1;
    c.hasOlder = r.hasMore && c.oldest > 1;
    for (const m of msgs) this.noteEntry(c, m);
    await this.saveIfHeld(c);
    this.scheduleAck(chatId);
    this.emit('messages', chatId);
  }

  /** Older entries for scroll-up: from IndexedDB first, then from the server. True if any came. */
  async loadOlder(chatId) {
    const c = this.chats.get(chatId);
    if (!c) return false;
    const loaded = this.messageMap(chatId);
    const lowest = loaded.size ? Math.min(...loaded.keys()) : c.last + 1;
    const stored = await this.store.newestMessages(chatId, lowest, HISTORY_PAGE);
    if (stored.length) {
      for (const m of stored) loaded.set(m.seq, m);
      this.emit('messages', chatId);
      return true;
    }
    if (!c.hasOlder || this.connState !== 'online') return false;
    const before = Math.min(lowest, c.oldest || lowest);
    if (before <= 1) {
      c.hasOlder = false;
      await this.saveIfHeld(c);
      return false;
    }
    const r = await this.request('history', { chatId, before, limit: HISTORY_PAGE });
    const msgs = [...r.messages].reverse();
    await this.storeEntries(chatId, msgs);
    if (msgs.length) c.oldest = Math.min(c.oldest || msgs[0].seq, msgs[0].seq);
    c.hasOlder = r.hasMore && msgs.length > 0 && msgs[0].seq > 1;
    await this.saveIfHeld(c);
    this.emit('messages', chatId);
    return msgs.length > 0;
  }

  async storeEntries(chatId, entries) {
    const map = this.messageMap(chatId);
    for (const m of entries) {
      const had = map.get(m.seq);
      map.set(m.seq, had && had.deleted && !m.deleted ? had : m);
      if (m.kind === 'deletion') this.tombstone(chatId, m.refSeq);
    }
    await this.store.putMany('messages', entries.map((m) => map.get(m.seq)));
  }

  messageMap(chatId) {
    let m = this.messages.get(chatId);
    if (!m) {
      m = new Map();
      this.messages.set(chatId, m);
    }
    return m;
  }

  receiptMap(chatId) {
    let m = this.receipts.get(chatId);
    if (!m) {
      m = new Map();
      this.receipts.set(chatId, m);
    }
    return m;
  }

  /** Opens a chat: its newest stored page, then whatever the server has that is missing. */
  async openChat(chatId) {
    this.openChatId = chatId;
    const c = this.chats.get(chatId);
    if (!c) return;
    const map = this.messageMap(chatId);
    if (map.size < HISTORY_PAGE) {
      const stored = await this.store.newestMessages(chatId, Number.MAX_SAFE_INTEGER, HISTORY_PAGE);
      for (const m of stored) if (!map.has(m.seq)) map.set(m.seq, m);
    }
    this.emit('open', chatId);
    if (this.connState === 'online') {
      if (!c.participants) this.refreshChat(chatId).catch((e) => this.problem(e, 'chat'));
      this.refreshReceipts(chatId).catch(() => {});
    }
    this.markReadIfVisible();
  }

  closeChat() {
    this.openChatId = null;
    this.emit('open', null);
  }

  async refreshChat(chatId) {
    // Requests run concurrently on the server's workers, so answers can come back in any order: an
    // answer older than one already applied (asked before it) would bring back a stale member list.
    const asked = (this.refreshAsked.get(chatId) || 0) + 1;
    this.refreshAsked.set(chatId, asked);
    const v = await this.request('getChat', { chatId });
    if ((this.refreshApplied.get(chatId) || 0) > asked) return;
    this.refreshApplied.set(chatId, asked);
    const c = this.chats.get(chatId) || { chatId, last: 0, oldest: 0, hasOlder: true };
    c.chat = v.chat;
    c.participants = v.participants;
    c.head = Math.max(c.head || 0, v.head);
    const mine = v.participants.find((p) => this.me && p.userId === this.me.id);
    if (mine) c.role = mine.role;
    await this.saveChat(c);
    for (const p of v.participants) this.userName(p.userId);
    this.emit('chat', chatId);
  }

  async refreshReceipts(chatId) {
    const r = await this.request('getReceipts', { chatId });
    this.mergeReceipts(chatId, r.receipts);
  }

  mergeReceipts(chatId, list) {
    const map = this.receiptMap(chatId);
    const changed = [];
    for (const r of list) {
      const old = map.get(r.userId) || { chatId, userId: r.userId, delivered: 0, read: 0 };
      // Cursors only grow (protocol.md, Receipt coalescing): keep the maximum seen.
      const next = { chatId, userId: r.userId, delivered: Math.max(old.delivered, r.delivered, r.read),
                     read: Math.max(old.read, r.read) };
      if (next.delivered !== old.delivered || next.read !== old.read) {
        map.set(r.userId, next);
        changed.push(next);
      }
    }
    if (changed.length) {
      this.store.putMany('receipts', changed).catch(() => {});
      const mine = changed.find((r) => this.me && r.userId === this.me.id);
      const c = this.chats.get(chatId);
      if (mine && c && mine.read > (c.read || 0)) {
        c.read = mine.read;  // Read on another device of mine.
        c.unread = this.countUnread(c);
        this.saveIfHeld(c).catch(() => {});
        this.emit('chats');
      }
      this.emit('receipts', chatId);
    }
  }

  async refreshPresence() {
    const ids = new Set();
    for (const c of this.chats.values()) {
      for (const p of c.participants || []) if (!this.me || p.userId !== this.me.id) ids.add(p.userId);
    }
    if (ids.size === 0) return;
    const r = await this.request('getPresence', { userIds: [...ids].slice(0, 1000) });
    for (const p of r.presence) this.presence.set(p.userId, p);
    this.emit('presence');
  }

  async refreshBlocked() {
    const r = await this.request('listBlocked');
    this.blocked = new Set(r.blocked.map((b) => b.userId));
    this.emit('blocked');
  }

  async forgetChat(chatId) {
    this.chats.delete(chatId);
    this.messages.delete(chatId);
    this.receipts.delete(chatId);
    await this.store.deleteChat(chatId);
    if (this.openChatId === chatId) this.openChatId = null;
    this.emit('chats');
    this.emit('open', this.openChatId);
  }

  /** A user's name for display; looks unknown ids up in the background. */
  userName(id) {
    if (this.me && id === this.me.id) return this.me.displayName || this.me.username;
    const u = this.users.get(id);
    if (u) return u.displayName || u.username;
    if (!this.lookups.has(id) && this.connState === 'online') {
      const p = this.request('lookupUser', { userId: id }).then(async (r) => {
        this.users.set(id, r.user);
        await this.store.put('users', r.user);
        this.emit('users');
      }).catch(() => {}).finally(() => setTimeout(() => this.lookups.delete(id), 30000));
      this.lookups.set(id, p);
    }
    return `user ${id}`;
  }

  rememberUser(user) {
    this.users.set(user.id, user);
    this.store.put('users', user).catch(() => {});
  }

  /** For a direct chat, the other member's id. */
  peerOf(c) {
    if (!c || !c.chat || c.chat.kind !== 'direct' || !c.participants) return null;
    const other = c.participants.find((p) => !this.me || p.userId !== this.me.id);
    return other ? other.userId : null;
  }

  chatTitle(c) {
    if (!c || !c.chat) return 'chat';
    if (c.chat.kind === 'group') return c.chat.name || `group ${c.chatId}`;
    const peer = this.peerOf(c);
    return peer ? this.userName(peer) : 'direct chat';
  }

  async lookupUsername(username) {
    const r = await this.request('lookupUser', { username });
    this.rememberUser(r.user);
    return r.user;
  }

  async createDirect(username) {
    const user = await this.lookupUsername(username);
    const r = await this.request('createChat', { kind: 'direct', userId: user.id });
    await this.adoptChat(r.chat);
    return r.chat.id;
  }

  async createGroup(name, usernames) {
    const ids = [];
    for (const u of usernames) ids.push((await this.lookupUsername(u)).id);
    const r = await this.request('createChat', { kind: 'group', name, members: ids });
    await this.adoptChat(r.chat);
    return r.chat.id;
  }

  async adoptChat(chat) {
    if (!this.chats.has(chat.id)) {
      await this.saveChat({ chatId: chat.id, chat, role: 'owner', head: 0, read: 0, unread: 0, lastMessage: null,
                            participants: null, last: 0, oldest: 0, hasOlder: true });
    }
    await this.refreshChat(chat.id);
    await this.syncChat(chat.id);
    this.refreshPresence().catch(() => {});
    this.emit('chats');
  }

  async modifyParticipants(chatId, change) {
    await this.request('modifyParticipants', { chatId, ...change });
    await this.refreshChat(chatId);
  }

  async addMember(chatId, username) {
    const user = await this.lookupUsername(username);
    await this.modifyParticipants(chatId, { add: [user.id] });
  }

  async renameChat(chatId, name) {
    await this.request('updateChat', { chatId, name });
  }

  async leaveChat(chatId) {
    await this.request('leaveChat', { chatId });
    await this.forgetChat(chatId);
  }

  async block(userId, blocked) {
    await this.request(blocked ? 'blockUser' : 'unblockUser', { userId });
    if (blocked) this.blocked.add(userId);
    else this.blocked.delete(userId);
    this.emit('blocked');
  }

  report(chatId, seq, reason) {
    return this.request('reportMessage', reason ? { chatId, seq, reason } : { chatId, seq });
  }

  deleteMessage(chatId, seq) {
    return this.request('deleteMessage', { chatId, seq });
  }

  // ---- Entries: live, synced, or our own answers ----

  async applyEntry(m, { fromSync = false } = {}) {
    const c = this.chats.get(m.chatId);
    if (!c) {
      // A chat we were just added to: learn it whole.
      this.scheduleResync();
      return;
    }
    const map = this.messageMap(m.chatId);
    const held = map.has(m.seq);
    if (m.seq <= c.last && held) return;  // Rule 4: seen already.
    map.set(m.seq, m);
    // Mine, from this device: it leaves the outbox before anything else can redraw the conversation.
    if (this.me && m.sender === this.me.id && this.session && m.senderDevice === this.session.device.id) {
      this.dropFromOutbox(m.clientId);
    }
    await this.store.put('messages', m);
    if (m.kind === 'deletion') this.tombstone(m.chatId, m.refSeq);
    if (m.kind === 'call' && this.callHandler && typeof m.clientId === 'string' && m.clientId.startsWith('call:')) {
      let outcome = '';
      try { outcome = JSON.parse(m.body).outcome || ''; } catch { /* not ours to judge */ }
      this.callHandler('callLogged', { callId: m.clientId.slice(5), chatId: m.chatId, outcome });
    }
    // Removed from the chat (or left it): nothing more of it is kept.
    if (m.kind === 'membership' && this.onMembership(c, m)) return;
    if (m.seq === c.last + 1) {
      c.last = m.seq;
      // Entries that arrived ahead of a gap now continue the run.
      while (map.has(c.last + 1)) c.last += 1;
    } else if (m.seq > c.last + 1 && !fromSync) {
      this.syncChat(m.chatId);  // Rule 5: fetch what is missing; `last` waits for it.
    }
    this.noteEntry(c, m, !fromSync && !held);
    await this.saveIfHeld(c);
    this.scheduleAck(m.chatId);
    this.emit('messages', m.chatId);
    this.emit('chats');
    if (m.chatId === this.openChatId) this.markReadIfVisible();
  }

  // `live`: an entry that arrived as an event (listChats's unread count already includes synced ones).
  noteEntry(c, m, live = false) {
    c.head = Math.max(c.head || 0, m.seq);
    // The list previews what people wrote or the server announced, not the deletion entry itself.
    if (m.kind !== 'deletion' && (!c.lastMessage || m.seq >= c.lastMessage.seq)) c.lastMessage = m;
    const mine = this.me && m.sender === this.me.id;
    if (live && !mine && USER_KINDS.has(m.kind) && m.seq > (c.read || 0) && !m.deleted) c.unread = (c.unread || 0) + 1;
    if (m.sender) {
      // Whoever wrote is no longer typing.
      const t = this.typing.get(c.chatId);
      if (t && t.delete(m.sender)) this.emit('typing', c.chatId);
    }
  }

  // After my read cursor moved elsewhere: what is still unread among the entries held here.
  countUnread(c) {
    const map = this.messages.get(c.chatId);
    if (!map) return 0;
    let n = 0;
    for (const m of map.values()) {
      if (m.seq > (c.read || 0) && USER_KINDS.has(m.kind) && !m.deleted && (!this.me || m.sender !== this.me.id)) n++;
    }
    return n;
  }

  tombstone(chatId, seq) {
    const map = this.messageMap(chatId);
    const m = map.get(seq);
    if (m && !m.deleted) {
      const t = { ...m, deleted: true, body: '', attachments: [] };
      map.set(seq, t);
      this.store.put('messages', t).catch(() => {});
      const c = this.chats.get(chatId);
      if (c && c.lastMessage && c.lastMessage.seq === seq) c.lastMessage = t;
    }
  }

  onMembership(c, m) {
    const body = parseBody(m);
    const me = this.me ? this.me.id : 0;
    const removed = (body.removed || []).includes(me) || (body.action === 'left' && body.userId === me);
    if (removed) {
      this.forgetChat(c.chatId).catch(() => {});
      return true;
    }
    this.refreshChat(c.chatId).then(() => this.refreshPresence()).catch(() => {});
    return false;
  }

  scheduleResync() {
    if (this.resyncTimer) return;
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = null;
      if (this.connState === 'online') this.syncAll().catch((e) => this.problem(e, 'sync'));
    }, 100);
  }

  scheduleAck(chatId) {
    if (this.ackTimers.has(chatId)) return;
    this.ackTimers.set(chatId, setTimeout(async () => {
      this.ackTimers.delete(chatId);
      const c = this.chats.get(chatId);
      if (!c || c.last === 0 || (c.acked || 0) >= c.last || this.connState !== 'online') return;
      const seq = c.last;
      try {
        await this.request('ack', { chatId, seq });
        c.acked = Math.max(c.acked || 0, seq);
        await this.saveIfHeld(c);
      } catch {
        // Acked again after the next sync.
      }
    }, ACK_DELAY_MS));
  }

  /** Marks the open chat read when the person can see it. */
  markReadIfVisible() {
    const chatId = this.openChatId;
    const c = chatId && this.chats.get(chatId);
    if (!c || document.visibilityState !== 'visible' || this.connState !== 'online') return;
    const seq = c.last;
    if (seq === 0 || (c.read || 0) >= seq) return;
    c.read = seq;
    c.unread = 0;
    this.saveIfHeld(c).catch(() => {});
    this.emit('chats');
    this.request('markRead', { chatId, seq }).catch(() => {});
  }

  // ---- Events ----

  onEvent(name, data) {
    switch (name) {
      case 'newMessage':
        this.applyEntry(data.message).catch((e) => console.error(e));
        break;
      case 'chatUpdate':
        if (!this.chats.has(data.chatId)) this.scheduleResync();
        else this.applyEntry(data.entry).catch((e) => console.error(e));
        break;
      case 'messageDeleted':
        // data.seq is the deleted message (tombstoned, idempotently); data.entry the deletion entry,
        // which carries the seq rule 4 deduplicates on.
        this.tombstone(data.chatId, data.seq);
        this.applyEntry(data.entry).catch((e) => console.error(e));
        break;
      case 'receipt':
        this.mergeReceipts(data.chatId, data.receipts);
        break;
      case 'presence':
        this.presence.set(data.userId, { ...(this.presence.get(data.userId) || {}), visible: true, ...data });
        this.emit('presence');
        break;
      case 'typing': {
        let t = this.typing.get(data.chatId);
        if (!t) this.typing.set(data.chatId, (t = new Map()));
        if (data.typing) t.set(data.userId, Date.now() + TYPING_SHOWN_MS);
        else t.delete(data.userId);
        this.emit('typing', data.chatId);
        setTimeout(() => this.emit('typing', data.chatId), TYPING_SHOWN_MS + 50);
        break;
      }
      default:
        if (name.startsWith('call') && this.callHandler) this.callHandler(name, data);
    }
  }

  /** Users typing in `chatId` now (expired indicators dropped). */
  typists(chatId) {
    const t = this.typing.get(chatId);
    if (!t) return [];
    const now = Date.now();
    for (const [u, until] of t) if (until < now) t.delete(u);
    return [...t.keys()];
  }

  /** Call while the person types in `chatId`: typing true at most every few s, false when idle. */
  noteTyping(chatId) {
    if (this.connState !== 'online') return;
    const s = this.typingSent.get(chatId) || { at: 0, timer: null };
    const now = Date.now();
    if (now - s.at > TYPING_RENEW_MS) {
      s.at = now;
      this.request('typing', { chatId, typing: true }).catch(() => {});
    }
    clearTimeout(s.timer);
    s.timer = setTimeout(() => this.stopTyping(chatId), TYPING_IDLE_MS);
    this.typingSent.set(chatId, s);
  }

  stopTyping(chatId) {
    const s = this.typingSent.get(chatId);
    if (!s || s.at === 0) return;
    clearTimeout(s.timer);
    this.typingSent.delete(chatId);
    if (this.connState === 'online') this.request('typing', { chatId, typing: false }).catch(() => {});
  }

  // ---- Sending: the outbox (outbox.js) ----

  get outbox() {
    return this.outboxQueue.items;
  }

  /** Queues a message (durably) and sends it when connected. Resolves once queued. */
  send(chatId, message) {
    this.stopTyping(chatId);
    return this.outboxQueue.add(chatId, message);
  }

  pendingFor(chatId) {
    return this.outbox.filter((o) => o.chatId === chatId);
  }

  dropFromOutbox(clientId) {
    return this.outboxQueue.drop(clientId);
  }

  retry(clientId) {
    return this.outboxQueue.retry(clientId);
  }

  flushOutbox() {
    return this.outboxQueue.flush();
  }

  // ---- Ticks ----

  /**
   * The delivery state of one of my messages: "sent", "delivered" (to every other member) or "read"
   * (by every other member), with each member's own state.
   */
  ticks(chatId, seq) {
    const c = this.chats.get(chatId);
    const map = this.receipts.get(chatId) || new Map();
    const others = (c && c.participants ? c.participants.map((p) => p.userId) : [...map.keys()])
      .filter((u) => !this.me || u !== this.me.id);
    const members = others.map((u) => {
      const r = map.get(u) || { delivered: 0, read: 0 };
      return { userId: u, state: r.read >= seq ? 'read' : r.delivered >= seq ? 'delivered' : 'sent' };
    });
    let state = 'sent';
    if (members.length && members.every((m) => m.state !== 'sent')) state = 'delivered';
    if (members.length && members.every((m) => m.state === 'read')) state = 'read';
    return { state, members };
  }

  rememberIceServers(iceServers) {
    if (Array.isArray(iceServers)) this.store.put('kv', iceServers, 'iceServers').catch(() => {});
  }

  async storedIceServers() {
    return (await this.store.get('kv', 'iceServers')) || [];
  }
}

function pickNewest(a, b) {
  if (!a) return b || null;
  if (!b) return a;
  return b.seq >= a.seq ? b : a;
}

function browserName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrome\//.test(ua) ? 'Chrome'
    : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS'
    : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}
