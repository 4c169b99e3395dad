// The outbox (docs/protocol.md rule 7): every message is written to IndexedDB with a new clientId before
// anything is sent, then sent one at a time in the order written. A retryable failure (no connection,
// a rate limit) keeps it, to be resent later with the same clientId, so the server never appends it
// twice; a refusal for good marks it with the error, in words, and the next one goes on.

import { ProtocolError } from './protocol.js';
import { describeError } from './errors.js';

function newClientId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return 'w-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Outbox {
  constructor(engine) {
    this.engine = engine;
    this.items = [];   // In the order written.
    this.order = 0;    // The next item's place.
    this.flushing = false;
  }

  async load() {
    this.items = await this.engine.store.all('outbox', undefined, 'order');
    this.order = this.items.length ? this.items[this.items.length - 1].order + 1 : 0;
  }

  async add(chatId, { body = '', kind = 'text', attachments = [], replyTo = 0 }) {
    const item = { clientId: newClientId(), chatId, kind, body, attachments, replyTo,
                   order: this.order++, createdAt: Date.now(), error: null };
    await this.engine.store.put('outbox', item);
    this.items.push(item);
    this.engine.emit('outbox', chatId);
    this.flush();
    return item;
  }

  async drop(clientId) {
    const i = this.items.findIndex((o) => o.clientId === clientId);
    if (i < 0) return;
    const [item] = this.items.splice(i, 1);
    await this.engine.store.delete('outbox', clientId);
    this.engine.emit('outbox', item.chatId);
  }

  async retry(clientId) {
    const item = this.items.find((o) => o.clientId === clientId);
    if (!item) return;
    item.error = null;
    await this.engine.store.put('outbox', item);
    this.engine.emit('outbox', item.chatId);
    this.flush();
  }

  /**
   * Sends what waits, in order, one at a time, while connected and signed in. The next message goes
   * out as soon as the previous one is acknowledged; storing what an acknowledgement changed
   * (IndexedDB) goes on beside it, so a burst costs one round trip a message, not also its writes.
   */
  async flush() {
    const e = this.engine;
    if (this.flushing || e.connState !== 'online' || !e.session) return;
    this.flushing = true;
    const stored = [];
    try {
      for (;;) {
        const item = this.items.find((o) => !o.error);
        if (!item || e.connState !== 'online') break;
        const args = { chatId: item.chatId, clientId: item.clientId, kind: item.kind, body: item.body };
        if (item.attachments.length) args.attachments = item.attachments;
        if (item.replyTo) args.replyTo = item.replyTo;
        let r;
        try {
          r = await e.request('sendMessage', args);
        } catch (err) {
          if (err instanceof ProtocolError && err.retryable) {
            // Kept, with its clientId: resent after the hint, or on the next connection.
            const wait = err.retryAfterMs !== null ? err.retryAfterMs : 1000;
            if (err.code !== 'unavailable' || e.connState === 'online') setTimeout(() => this.flush(), wait);
            break;
          }
          item.error = describeError(err);
          await e.store.put('outbox', item);
          e.emit('outbox', item.chatId);
          e.problem(err, 'send');
          continue;
        }
        const entry = { chatId: item.chatId, seq: r.seq, id: r.messageId, sender: e.me.id,
                        senderDevice: e.session.device.id, clientId: item.clientId, kind: item.kind,
                        body: item.body, attachments: item.attachments, replyTo: item.replyTo, refSeq: 0,
                        timestamp: r.timestamp, deleted: false };
        // drop() takes the item out of `items` at once (the loop must not send it again); its
        // IndexedDB delete and the entry's writes complete in the background.
        stored.push(this.drop(item.clientId).then(() => e.applyEntry(entry)));
      }
    } finally {
      this.flushing = false;
      await Promise.all(stored);
    }
  }
}
