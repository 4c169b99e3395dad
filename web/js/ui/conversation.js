// The open conversation: header (presence, last seen, typing, call buttons), the messages (paged
// back on scroll-up or with "Load older messages"), and the composer (reply, attachments with a
// progress bar, send). Messages written offline show as waiting until the outbox sends them.

import { USER_KINDS } from '../engine.js';
import { describeError } from '../errors.js';
import { uploadAttachment, downloadAttachment, downloadName } from '../files.js';
import { h, clear, reconcileChildren, notify, formDialog, confirmDialog, formatTime, formatLastSeen, formatSize } from './dom.js';
import { systemText } from './text.js';

const NEAR_TOP_PX = 80;
const NEAR_BOTTOM_PX = 60;
// An inline image is fetched up to this many times before the message says it is unavailable.
const IMAGE_ATTEMPTS = 4;
const IMAGE_FAILED = Symbol('image failed');

export class ConversationView {
  constructor(root, engine, calls, { onInfo, onBack }) {
    this.root = root;
    this.engine = engine;
    this.calls = calls;
    this.onInfo = onInfo;
    this.onBack = onBack;
    this.chatId = null;
    this.nodes = new Map();     // key -> {el, sig}
    this.replyTo = null;        // seq
    this.uploads = [];          // {name, fraction, el}
    this.images = new Map();    // attachment id -> object URL, a Promise while loading, or IMAGE_FAILED
    this.imageFailures = new Map();  // attachment id -> failed loads so far
    this.loadingOlder = false;
    this.openTicks = new Set();
  }

  render(full) {
    const e = this.engine;
    const chatId = e.openChatId;
    const c = chatId ? e.chatState(chatId) : null;
    if (!c) {
      this.chatId = null;
      clear(this.root, h('div', { class: 'placeholder' },
        h('p', {}, e.chats.size ? 'Pick a chat on the left.' : 'Start a chat with New chat or New group.'),
        h('p', { class: 'hint' }, 'Keys: Tab moves between controls, Alt+↑/↓ between chats, Enter sends, Shift+Enter adds a line, Escape cancels a reply.')));
      return;
    }
    if (full || chatId !== this.chatId || !this.list) this.build(c);
    this.updateHeader(c);
    this.updateMessages(c);
    this.updateComposer();
  }

  build(c) {
    const switched = c.chatId !== this.chatId;
    this.chatId = c.chatId;
    this.nodes.clear();
    if (switched) {
      this.replyTo = null;
      this.openTicks.clear();
    }
    const kindGroup = c.chat && c.chat.kind === 'group';
    this.title = h('h2', { 'data-testid': 'conv-title' });
    this.subtitle = h('p', { class: 'subtitle', 'data-testid': 'conv-subtitle', 'aria-live': 'polite' });
    const head = h('header', { class: 'conv-head' },
      h('button', { class: 'back', 'aria-label': 'Back to the chat list', onclick: () => this.onBack() }, '←'),
      h('div', { class: 'grow' }, this.title, this.subtitle),
      h('button', { onclick: () => this.calls.start(c.chatId, 'audio'), 'data-testid': 'call-audio',
                    'aria-label': 'Audio call' }, 'Call'),
      h('button', { onclick: () => this.calls.start(c.chatId, 'video'), 'data-testid': 'call-video',
                    'aria-label': 'Video call' }, 'Video'),
      h('button', { onclick: () => this.onInfo(c.chatId), 'data-testid': 'chat-info-button',
                    'aria-label': kindGroup ? 'Group info and members' : 'Chat info' }, 'Info'));
    this.older = h('button', { class: 'link older', 'data-testid': 'load-older', onclick: () => this.loadOlder() },
      'Load older messages');
    this.list = h('ol', { class: 'messages', 'aria-label': 'Messages', tabindex: '0', 'data-testid': 'messages' });
    this.scroller = h('div', { class: 'scroller' }, this.older, this.list);
    this.scroller.addEventListener('scroll', () => {
      if (this.scroller.scrollTop < NEAR_TOP_PX) this.loadOlder();
    });

    this.replyBox = h('div', { class: 'reply-box', 'data-testid': 'reply-box' });
    this.uploadBox = h('div', { class: 'uploads', 'aria-live': 'polite' });
    this.fileInput = h('input', { type: 'file', id: 'file-input', class: 'sr-only', multiple: true,
                                  'data-testid': 'file-input', onchange: () => this.attach() });
    this.text = h('textarea', { id: 'composer-text', rows: '2', 'aria-label': 'Message', placeholder: 'Write a message',
                                'data-testid': 'composer', oninput: () => this.engine.noteTyping(this.chatId),
                                onkeydown: (ev) => this.composerKey(ev) });
    const form = h('form', { class: 'composer', onsubmit: (ev) => {
      ev.preventDefault();
      this.sendText();
    } },
    h('label', { for: 'file-input', class: 'attach button', tabindex: '0', role: 'button', 'aria-label': 'Attach files',
                 onkeydown: (ev) => {
                   if (ev.key === 'Enter' || ev.key === ' ') {
                     ev.preventDefault();
                     this.fileInput.click();
                   }
                 } }, 'Attach'),
    this.fileInput, this.text,
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'send' }, 'Send'));
    clear(this.root, head, this.scroller, h('footer', {}, this.replyBox, this.uploadBox, form));
    this.stickToBottom = true;
    if (switched) this.text.focus();
  }

  updateHeader(c) {
    const e = this.engine;
    this.title.textContent = e.chatTitle(c);
    const typists = e.typists(c.chatId).filter((u) => !e.me || u !== e.me.id);
    let sub;
    if (typists.length) {
      sub = `${typists.map((u) => e.userName(u)).join(', ')} ${typists.length === 1 ? 'is' : 'are'} typing…`;
      this.subtitle.dataset.typing = 'true';
    } else {
      delete this.subtitle.dataset.typing;
      if (c.chat && c.chat.kind === 'direct') {
        const peer = e.peerOf(c);
        sub = peer ? formatLastSeen(e.presence.get(peer)) : '';
      } else {
        const ps = c.participants || [];
        const online = ps.filter((p) => (!e.me || p.userId !== e.me.id) && (e.presence.get(p.userId) || {}).online).length;
        sub = `${ps.length} members${online ? `, ${online} online` : ''}`;
      }
    }
    if (this.subtitle.textContent !== sub) this.subtitle.textContent = sub;
  }

  // ---- Messages ----

  updateMessages(c) {
    const e = this.engine;
    const map = e.messages.get(c.chatId) || new Map();
    const entries = [...map.values()].sort((a, b) => a.seq - b.seq).filter((m) => m.kind !== 'deletion');
    // A message the server holds is shown once: its outbox copy can outlive it for a moment (the event
    // and the reply to sendMessage race, and the outbox drop waits for IndexedDB).
    const held = new Set(entries.map((m) => m.clientId).filter(Boolean));
    const pending = e.pendingFor(c.chatId).filter((o) => !held.has(o.clientId));
    const atBottom = this.stickToBottom ||
      this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < NEAR_BOTTOM_PX;
    const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
    const firstBefore = this.list.firstElementChild;

    const wanted = [];
    for (const m of entries) wanted.push(this.node(`s${m.seq}`, this.signature(m), () => this.messageEl(c, m)));
    for (const o of pending) wanted.push(this.node(`o${o.clientId}`, JSON.stringify(o), () => this.pendingEl(o)));
    reconcileChildren(this.list, wanted);
    const keep = new Set(wanted);
    for (const [k, v] of this.nodes) if (!keep.has(v.el)) this.nodes.delete(k);

    // Older entries exist if the lowest one held is not the chat's first and the server has not said
    // there is nothing before it.
    const lowest = entries.length ? entries[0].seq : c.last + 1;
    this.older.hidden = !(lowest > 1 && c.hasOlder !== false);
    if (atBottom) {
      this.scroller.scrollTop = this.scroller.scrollHeight;
      this.stickToBottom = false;
    } else if (firstBefore && this.list.firstElementChild !== firstBefore) {
      // Older entries went in above: keep what the person was looking at where it was.
      this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
    }
  }

  node(key, sig, make) {
    const had = this.nodes.get(key);
    if (had && had.sig === sig) return had.el;
    const el = make();
    if (had && had.el.contains(document.activeElement)) setTimeout(() => el.focus(), 0);
    this.nodes.set(key, { el, sig });
    return el;
  }

  signature(m) {
    const e = this.engine;
    const mine = e.me && m.sender === e.me.id;
    const ticks = mine ? JSON.stringify(e.ticks(m.chatId, m.seq)) : '';
    const reply = m.replyTo ? (e.messages.get(m.chatId) || new Map()).get(m.replyTo) : null;
    return [m.seq, m.deleted, m.body, e.userName(m.sender), ticks, this.openTicks.has(m.seq),
            reply ? `${reply.deleted}${reply.body}` : '', (m.attachments || []).map((a) => this.imageState(a)).join()].join('|');
  }

  messageEl(c, m) {
    const e = this.engine;
    if (!USER_KINDS.has(m.kind)) {
      return h('li', { class: 'msg system', 'data-seq': m.seq, 'data-testid': 'message' },
        h('span', {}, systemText(e, m)), ' ', h('time', {}, formatTime(m.timestamp)));
    }
    const mine = e.me && m.sender === e.me.id;
    const li = h('li', { class: `msg ${mine ? 'mine' : 'theirs'}${m.deleted ? ' deleted' : ''}`, 'data-seq': m.seq,
                         'data-testid': 'message', tabindex: '-1', id: `m-${m.chatId}-${m.seq}` });
    li.append(h('div', { class: 'meta' }, h('span', { class: 'sender' }, mine ? 'You' : e.userName(m.sender)), ' ',
      h('time', { datetime: new Date(m.timestamp).toISOString() }, formatTime(m.timestamp))));
    if (m.deleted) {
      li.append(h('div', { class: 'body' }, h('em', {}, 'This message was deleted.')));
      return li;
    }
    if (m.replyTo) li.append(this.quote(c.chatId, m.replyTo));
    if (m.body && !(m.attachments && m.attachments.length && m.kind !== 'text' && isFileName(m.body))) {
      li.append(h('div', { class: 'body', 'data-testid': 'message-body' }, m.body));
    }
    if (m.attachments && m.attachments.length) {
      li.append(h('div', { class: 'attachments' }, m.attachments.map((id) => this.attachmentEl(m, id))));
    }
    const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Message actions' },
      h('button', { class: 'small', onclick: () => this.setReply(m.seq), 'data-testid': 'reply' }, 'Reply'),
      mine ? h('button', { class: 'small', onclick: () => this.remove(m), 'data-testid': 'delete' }, 'Delete') : null,
      mine ? null : h('button', { class: 'small', onclick: () => this.report(m), 'data-testid': 'report' }, 'Report'));
    const foot = h('div', { class: 'foot' }, actions);
    if (mine) foot.append(this.ticksEl(m));
    li.append(foot);
    return li;
  }

  ticksEl(m) {
    const t = this.engine.ticks(m.chatId, m.seq);
    const label = { sent: 'Sent', delivered: 'Delivered', read: 'Read' }[t.state];
    const open = this.openTicks.has(m.seq);
    const group = t.members.length > 1;
    const wrap = h('span', { class: 'tick-wrap' },
      h('button', { class: `ticks ${t.state}`, 'data-testid': 'ticks', 'data-state': t.state,
                    'aria-label': `${label}${group ? `: ${t.members.filter((x) => x.state !== 'sent').length} of ${t.members.length}` : ''}. Show who`,
                    'aria-expanded': open ? 'true' : 'false',
                    onclick: () => {
                      if (open) this.openTicks.delete(m.seq);
                      else this.openTicks.add(m.seq);
                      this.render(false);
                    } }, t.state === 'sent' ? '✓' : '✓✓'));
    if (open) {
      wrap.append(h('ul', { class: 'tick-detail', 'data-testid': 'tick-detail' },
        t.members.map((x) => h('li', { 'data-state': x.state }, `${this.engine.userName(x.userId)}: ${x.state}`))));
    }
    return wrap;
  }

  quote(chatId, seq) {
    const r = (this.engine.messages.get(chatId) || new Map()).get(seq);
    const text = !r ? `message #${seq}` : r.deleted ? 'a deleted message'
      : `${this.engine.userName(r.sender)}: ${r.body || (r.attachments && r.attachments.length ? 'attachment' : '')}`;
    return h('button', { class: 'quote', 'data-testid': 'quote', onclick: () => {
      const el = document.getElementById(`m-${chatId}-${seq}`);
      if (el) {
        el.scrollIntoView({ block: 'center' });
        el.focus();
      }
    } }, '↩ ', text.length > 120 ? `${text.slice(0, 120)}…` : text);
  }

  // What a message's node shows of image `id`, as part of its signature: the node must be built again
  // when the image arrives, also if it was built again while the image was loading.
  imageState(id) {
    const v = this.images.get(id);
    if (v === undefined) return 'none';
    if (v === IMAGE_FAILED) return 'failed';
    return typeof v === 'string' ? 'shown' : 'loading';
  }

  attachmentEl(m, id) {
    if (m.kind === 'image') {
      const url = this.images.get(id);
      if (typeof url === 'string') {
        return h('img', { src: url, alt: m.body || 'image', class: 'inline-image', 'data-testid': 'inline-image' });
      }
      if (url === IMAGE_FAILED) return h('span', { class: 'image-loading', 'data-testid': 'image-failed' }, 'Image unavailable');
      if (!url) this.loadImage(id);
      return h('span', { class: 'image-loading' }, 'Loading image…');
    }
    const name = downloadName(m.body, id, mimeOfKind(m.kind));
    const progress = h('progress', { max: '1', value: '0', hidden: true, 'aria-label': `Downloading ${name}` });
    const button = h('button', { class: 'download', 'data-testid': 'download', onclick: async () => {
      progress.hidden = false;
      button.disabled = true;
      try {
        const blob = await downloadAttachment(this.engine, id, (f) => { progress.value = f; });
        const url = URL.createObjectURL(blob);
        const a = h('a', { href: url, download: downloadName(m.body, id, blob.type) });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
      } catch (err) {
        notify(describeError(err));
      } finally {
        button.disabled = false;
        progress.hidden = true;
      }
    } }, `Download ${name}`);
    return h('span', { class: 'file' }, button, progress);
  }

  loadImage(id) {
    const p = downloadAttachment(this.engine, id).then((blob) => {
      this.images.set(id, URL.createObjectURL(blob));
      this.render(false);
    }).catch(() => {
      // Try again a few times, later each time (the server busy, the network gone for a moment): no
      // redraw would start the next load, the message's node already shows "Loading image…".
      const failures = (this.imageFailures.get(id) || 0) + 1;
      this.imageFailures.set(id, failures);
      if (failures >= IMAGE_ATTEMPTS) {
        this.images.set(id, IMAGE_FAILED);
        this.render(false);
        return;
      }
      setTimeout(() => this.loadImage(id), 500 * 2 ** failures);
    });
    this.images.set(id, p);
  }

  pendingEl(o) {
    const e = this.engine;
    const li = h('li', { class: 'msg mine pending', 'data-testid': 'pending-message', 'data-client-id': o.clientId },
      h('div', { class: 'meta' }, h('span', { class: 'sender' }, 'You'), ' ', h('time', {}, formatTime(o.createdAt))));
    if (o.replyTo) li.append(this.quote(o.chatId, o.replyTo));
    li.append(h('div', { class: 'body', 'data-testid': 'message-body' }, o.body || `${o.attachments.length} attachment(s)`));
    if (o.error) {
      li.append(h('div', { class: 'send-error', role: 'alert' }, `Not sent. ${o.error}`),
        h('div', { class: 'actions' },
          h('button', { class: 'small', onclick: () => e.retry(o.clientId) }, 'Retry'),
          h('button', { class: 'small', onclick: () => e.dropFromOutbox(o.clientId) }, 'Discard')));
    } else {
      li.append(h('div', { class: 'foot' }, h('span', { class: 'ticks waiting', 'data-testid': 'ticks', 'data-state': 'waiting',
                                                        'aria-label': 'Waiting to be sent' }, 'waiting')));
    }
    return li;
  }

  async loadOlder() {
    if (this.loadingOlder || !this.chatId) return;
    this.loadingOlder = true;
    try {
      await this.engine.loadOlder(this.chatId);
    } catch (err) {
      notify(describeError(err));
    } finally {
      this.loadingOlder = false;
    }
  }

  // ---- Actions ----

  setReply(seq) {
    this.replyTo = seq;
    this.updateComposer();
    this.text.focus();
  }

  async remove(m) {
    if (!(await confirmDialog('Delete message', 'Delete this message for everyone?', 'Delete'))) return;
    try {
      await this.engine.deleteMessage(m.chatId, m.seq);
    } catch (err) {
      notify(describeError(err));
    }
  }

  async report(m) {
    const v = await formDialog('Report message', [
      { name: 'reason', label: 'Why? (optional)', placeholder: 'spam, advertising, abuse…' }], 'Report');
    if (!v) return;
    try {
      const r = await this.engine.report(m.chatId, m.seq, v.reason.trim());
      notify(r.duplicate ? 'You had reported this message already.' : 'Reported. Thank you.', 'info');
    } catch (err) {
      notify(describeError(err));
    }
  }

  composerKey(ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      this.sendText();
    } else if (ev.key === 'Escape' && this.replyTo) {
      this.replyTo = null;
      this.updateComposer();
    }
  }

  async sendText() {
    const body = this.text.value.trim();
    if (!body || !this.chatId) return;
    this.text.value = '';
    const replyTo = this.replyTo || 0;
    this.replyTo = null;
    this.stickToBottom = true;
    try {
      await this.engine.send(this.chatId, { body, replyTo });
    } catch (err) {
      notify(describeError(err));
    }
    this.updateComposer();
  }

  updateComposer() {
    if (!this.replyBox) return;
    if (this.replyTo) {
      clear(this.replyBox, h('span', {}, 'Replying to '), this.quote(this.chatId, this.replyTo),
        h('button', { class: 'icon', 'aria-label': 'Cancel the reply', onclick: () => {
          this.replyTo = null;
          this.updateComposer();
        } }, '×'));
      this.replyBox.hidden = false;
    } else {
      clear(this.replyBox);
      this.replyBox.hidden = true;
    }
  }

  /** Uploads the chosen files one by one (each with its progress bar), then sends each as a message. */
  async attach() {
    const files = [...this.fileInput.files];
    this.fileInput.value = '';
    const chatId = this.chatId;
    if (this.engine.connState !== 'online') {
      notify('Attachments need a connection to the server: try again when online.');
      return;
    }
    const caption = this.text.value.trim();
    this.text.value = '';
    for (const file of files) {
      const bar = h('progress', { max: '100', value: '0', 'data-testid': 'upload-progress', 'aria-label': `Uploading ${file.name}` });
      const label = h('span', {}, `${file.name} (${formatSize(file.size)})`);
      const row = h('div', { class: 'upload', 'data-testid': 'upload' }, label, bar);
      this.uploadBox.append(row);
      try {
        const attachment = await uploadAttachment(this.engine, file, (f) => {
          bar.value = Math.round(f * 100);
          bar.setAttribute('aria-valuenow', String(Math.round(f * 100)));
        });
        row.dataset.done = 'true';
        label.textContent = `${file.name}: uploaded`;
        await this.engine.send(chatId, { kind: attachment.kind, body: caption || file.name, attachments: [attachment.id] });
      } catch (err) {
        row.dataset.failed = 'true';
        label.textContent = `${file.name}: not sent. ${describeError(err)}`;
        notify(`Could not send ${file.name}. ${describeError(err)}`);
      }
      setTimeout(() => row.remove(), 3000);
    }
  }
}

function isFileName(s) {
  return /^[^\\/:*?"<>|\r\n]{1,120}\.[A-Za-z0-9]{1,8}$/.test(s.trim());
}

function mimeOfKind(kind) {
  return { audio: 'audio/mpeg', video: 'video/mp4', document: 'application/octet-stream' }[kind] || '';
}
