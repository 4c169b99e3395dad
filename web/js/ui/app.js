// The app's screens: sign-in, and the messenger (chat list, the open conversation, dialogs for new
// chats, members, devices and blocked users). Everything is a button, link or form field, so it is
// reachable with Tab; Alt+ArrowUp/ArrowDown moves between chats, Escape closes what is open.

import { describeError } from '../errors.js';
import { ConversationView } from './conversation.js';
import { CallView } from './callview.js';
import { h, clear, reconcileChildren, notify, modal, formDialog, confirmDialog, formatTime, formatLastSeen } from './dom.js';
import { USER_PREVIEW, initials, systemText } from './text.js';

export class App {
  constructor(root, engine, calls) {
    this.root = root;
    this.engine = engine;
    this.calls = calls;
    this.pending = false;
    this.screen = null;
    this.openPanel = null;
  }

  start() {
    this.engine.addEventListener('change', (e) => this.onChange(e.detail));
    this.engine.addEventListener('problem', (e) => notify(describeError(e.detail.error)));
    document.addEventListener('visibilitychange', () => this.engine.markReadIfVisible());
    window.addEventListener('focus', () => this.engine.markReadIfVisible());
    document.addEventListener('keydown', (e) => this.onKey(e));
    this.callView = new CallView(document.getElementById('call'), this.calls, this.engine);
    this.render();
  }

  onChange(detail) {
    if (detail.what === 'session') {
      if (!this.engine.session && detail.chatId) notify(`Signed out: ${detail.chatId}`, 'info');
      this.render();
      return;
    }
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      if (this.screen === 'main') this.renderMain(false);
    });
  }

  onKey(e) {
    if (this.screen !== 'main' || !e.altKey || (e.key !== 'ArrowUp' && e.key !== 'ArrowDown')) return;
    const ids = this.sortedChats().map((c) => c.chatId);
    if (!ids.length) return;
    e.preventDefault();
    const i = ids.indexOf(this.engine.openChatId);
    const next = ids[Math.max(0, Math.min(ids.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)))];
    this.open(next);
  }

  render() {
    if (!this.engine.session) return this.renderAuth();
    this.screen = 'main';
    clear(this.root);
    this.sidebar = h('aside', { class: 'sidebar', 'aria-label': 'Chats' });
    this.main = h('main', { class: 'conversation', 'aria-label': 'Conversation' });
    this.root.append(h('div', { class: 'layout' }, this.sidebar, this.main));
    // The sidebar's parts and each chat's list entry keep their elements from render to render and
    // change in place: a press on an entry that a render replaced before its release would not be a
    // click (the press and the release would hit different elements), and renders come with every
    // event (presence, typing, messages).
    this.sideParts = new Map();  // part -> {el, sig}
    this.chatEntries = new Map();  // chatId -> {li, button, sig}
    this.chatList = h('ul', { class: 'chatlist', 'aria-label': 'Your chats', 'data-testid': 'chatlist' });
    this.conversation = new ConversationView(this.main, this.engine, this.calls, {
      onInfo: (chatId) => this.chatInfo(chatId),
      onBack: () => this.engine.closeChat(),
    });
    this.renderMain(true);
  }

  // ---- Sign in / create account ----

  renderAuth() {
    this.screen = 'auth';
    const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'auth-error' });
    const status = h('p', { class: 'form-status', role: 'status' });
    const busy = (form, on) => {
      for (const el of form.elements) el.disabled = on;
    };
    const login = h('form', { class: 'stack card', 'aria-labelledby': 'login-title', onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      busy(login, true);
      try {
        await this.engine.login(login.elements.username.value.trim(), login.elements.password.value);
      } catch (err) {
        error.textContent = `Could not sign in. ${describeError(err)}`;
        busy(login, false);
        login.elements.password.select();
      }
    } },
    h('h2', { id: 'login-title' }, 'Sign in'),
    h('label', { for: 'login-username' }, 'Username'),
    h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, autofocus: true }),
    h('label', { for: 'login-password' }, 'Password'),
    h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'));

    const register = h('form', { class: 'stack card', 'aria-labelledby': 'register-title', onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      const f = register.elements;
      busy(register, true);
      try {
        await this.engine.register(f.username.value.trim(), f.password.value, f.displayName.value.trim());
        status.textContent = 'Account created; signing in…';
        await this.engine.login(f.username.value.trim(), f.password.value);
      } catch (err) {
        error.textContent = `Could not create the account. ${describeError(err)}`;
        busy(register, false);
      }
    } },
    h('h2', { id: 'register-title' }, 'Create an account'),
    h('label', { for: 'reg-username' }, 'Username'),
    h('input', { id: 'reg-username', name: 'username', autocomplete: 'username', required: true,
                 pattern: '[A-Za-z0-9_.\\-]{3,32}', title: '3 to 32 letters, digits, _ . or -' }),
    h('label', { for: 'reg-display' }, 'Display name (optional)'),
    h('input', { id: 'reg-display', name: 'displayName', autocomplete: 'name' }),
    h('label', { for: 'reg-password' }, 'Password'),
    h('input', { id: 'reg-password', name: 'password', type: 'password', autocomplete: 'new-password', required: true,
                 minlength: 8 }),
    h('small', { class: 'hint' }, 'At least 8 characters.'),
    h('button', { type: 'submit' }, 'Create account'));

    const conn = h('p', { class: 'conn-line', 'data-testid': 'connection', 'data-state': this.engine.connState },
      this.engine.connState === 'online' ? 'Connected to the server.' : 'Connecting to the server…');
    clear(this.root, h('div', { class: 'auth' },
      h('header', { class: 'brand' }, h('h1', {}, 'libchat'), h('p', {}, 'Group chat that keeps working offline.')),
      error, status, h('div', { class: 'auth-forms' }, login, register), conn));
    const update = () => {
      if (this.screen !== 'auth') return this.engine.removeEventListener('change', update);
      conn.dataset.state = this.engine.connState;
      conn.textContent = this.engine.connState === 'online' ? 'Connected to the server.'
        : 'Not connected to the server yet; retrying…';
    };
    this.engine.addEventListener('change', update);
  }

  // ---- The messenger ----

  sortedChats() {
    return [...this.engine.chats.values()].sort((a, b) => {
      const ta = a.lastMessage ? a.lastMessage.timestamp : (a.chat ? a.chat.createdAt : 0);
      const tb = b.lastMessage ? b.lastMessage.timestamp : (b.chat ? b.chat.createdAt : 0);
      return tb - ta;
    });
  }

  open(chatId) {
    this.engine.openChat(chatId).catch((e) => notify(describeError(e)));
  }

  renderMain(full) {
    const e = this.engine;
    const me = e.me;
    const waiting = e.outbox.filter((o) => !o.error).length;
    const connText = {
      online: '',
      connecting: 'Connecting…',
      offline: 'Offline: showing what this browser has saved.',
      stopped: 'Offline.',
    }[e.connState] || '';
    const bannerSig = JSON.stringify([e.connState, waiting, !!e.conn]);
    const banner = this.sidePart('banner', bannerSig, () => h('p', { class: `conn-banner ${e.connState}`, role: 'status',
                                                                 'data-testid': 'connection', 'data-state': e.connState },
      connText, waiting ? ` ${waiting} message${waiting === 1 ? '' : 's'} waiting to be sent.` : '',
      e.connState === 'offline' && e.conn ? h('button', { class: 'link', onclick: () => e.conn.reconnectNow() }, 'Retry now') : null));

    const header = this.sidePart('header', JSON.stringify([me.displayName, me.username]), () => h('header', { class: 'side-head' },
      h('div', { class: 'me' }, h('strong', { 'data-testid': 'me' }, me.displayName || me.username),
        h('small', {}, `@${me.username}`)),
      h('nav', { class: 'side-actions', 'aria-label': 'Account and chats' },
        h('button', { onclick: () => this.newDirect(), 'data-testid': 'new-direct' }, 'New chat'),
        h('button', { onclick: () => this.newGroup(), 'data-testid': 'new-group' }, 'New group'),
        h('button', { onclick: () => this.devices(), 'data-testid': 'devices' }, 'Devices'),
        h('button', { onclick: () => this.blockedUsers() }, 'Blocked'),
        h('button', { onclick: () => this.logout(), 'data-testid': 'logout' }, 'Sign out'))));

    const chats = this.sortedChats();
    const items = chats.map((c) => this.chatItem(c));
    const shown = new Set(chats.map((c) => c.chatId));
    for (const id of [...this.chatEntries.keys()]) if (!shown.has(id)) this.chatEntries.delete(id);
    if (!items.length) items.push(this.sidePart('empty', '', () => h('li', { class: 'empty' },
      'No chats yet: start one with New chat or New group.')));
    // Moving the focused entry (the list reordered) takes the focus from it: give it back.
    const focused = document.activeElement;
    reconcileChildren(this.chatList, items);
    reconcileChildren(this.sidebar, [header, banner, this.chatList]);
    if (focused && focused !== document.activeElement && focused.isConnected) focused.focus();
    this.conversation.render(full);
    if (this.openPanel) this.openPanel();
  }

  // The element of sidebar part `key`, made again only when its signature changes.
  sidePart(key, sig, make) {
    const had = this.sideParts.get(key);
    if (had && had.sig === sig) return had.el;
    const el = make();
    this.sideParts.set(key, { el, sig });
    return el;
  }

  // Chat c's list entry: the same <li> and <button> for as long as the chat is listed, their content
  // and attributes updated when what they show changes.
  chatItem(c) {
    const e = this.engine;
    const title = e.chatTitle(c);
    const last = c.lastMessage;
    let preview = '';
    if (last) {
      const who = last.sender && e.me && last.sender === e.me.id ? 'You: ' : '';
      preview = last.deleted ? 'message deleted' : last.kind === 'text' ? who + last.body
        : USER_PREVIEW[last.kind] ? who + USER_PREVIEW[last.kind] + (last.body ? ` ${last.body}` : '')
        : systemText(e, last);
    }
    const peer = e.peerOf(c);
    const p = peer ? e.presence.get(peer) : null;
    const online = p && p.visible !== false && p.online;
    const active = c.chatId === e.openChatId;
    const group = !!(c.chat && c.chat.kind === 'group');
    const time = last ? formatTime(last.timestamp) : '';
    const sig = JSON.stringify([title, preview, online, active, group, time, c.unread || 0]);
    let entry = this.chatEntries.get(c.chatId);
    if (!entry) {
      const button = h('button', { class: 'chat-item', 'data-chat-id': c.chatId, 'data-testid': 'chat-item',
                                   onclick: () => this.open(c.chatId) });
      entry = { li: h('li', {}, button), button, sig: null };
      this.chatEntries.set(c.chatId, entry);
    }
    if (entry.sig === sig) return entry.li;
    entry.sig = sig;
    const b = entry.button;
    b.className = `chat-item${active ? ' active' : ''}`;
    if (active) b.setAttribute('aria-current', 'true');
    else b.removeAttribute('aria-current');
    b.setAttribute('aria-label', `${title}${online ? ', online' : ''}${c.unread ? `, ${c.unread} unread` : ''}`);
    b.replaceChildren(
      h('span', { class: `avatar${online ? ' online' : ''}`, 'aria-hidden': 'true' }, initials(title)),
      h('span', { class: 'chat-text' },
        h('span', { class: 'chat-title' }, title, group ? h('small', {}, ' · group') : null),
        h('span', { class: 'chat-preview', 'data-testid': 'chat-preview' }, preview)),
      h('span', { class: 'chat-side' },
        h('time', {}, time),
        c.unread ? h('span', { class: 'badge', 'data-testid': 'unread' }, String(c.unread)) : null));
    return entry.li;
  }

  // ---- Dialogs ----

  async newDirect() {
    const v = await formDialog('New chat', [{ name: 'username', label: 'Username of the person', required: true }], 'Start chat');
    if (!v) return;
    try {
      this.open(await this.engine.createDirect(v.username.trim().toLowerCase()));
    } catch (err) {
      notify(describeError(err));
    }
  }

  async newGroup() {
    const v = await formDialog('New group', [
      { name: 'name', label: 'Group name', required: true },
      { name: 'members', label: 'Members (usernames, separated by commas)', placeholder: 'alice, bob' },
    ], 'Create group');
    if (!v) return;
    const names = v.members.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    try {
      this.open(await this.engine.createGroup(v.name.trim(), names));
    } catch (err) {
      notify(describeError(err));
    }
  }

  async logout() {
    if (!(await confirmDialog('Sign out', 'Sign out of this browser? Its saved messages are deleted.', 'Sign out'))) return;
    try {
      await this.engine.logout();
    } catch (err) {
      notify(describeError(err));
    }
  }

  async devices() {
    let list;
    try {
      list = await this.engine.listDevices();
    } catch (err) {
      return notify(describeError(err));
    }
    await modal('Your devices', (close) => {
      const ul = h('ul', { class: 'plain-list', 'data-testid': 'device-list' });
      for (const d of list.devices) {
        const current = d.id === list.current;
        ul.append(h('li', { class: 'row' },
          h('span', { class: 'grow' }, h('strong', {}, d.name || d.kind), ` (${d.kind})`,
            current ? h('em', {}, ' this browser') : null, h('br'),
            h('small', {}, `signed in ${formatTime(d.createdAt)}, last seen ${formatTime(d.lastSeen)}`)),
          h('button', { onclick: async () => {
            const ok = await confirmDialog('Remove device', current ? 'Sign this browser out?'
              : `Sign "${d.name || d.kind}" out? It must sign in again to chat.`, 'Remove');
            if (!ok) return;
            try {
              await this.engine.removeDevice(d.id);
              close();
              if (!current) this.devices();
            } catch (err) {
              notify(describeError(err));
            }
          } }, 'Remove')));
      }
      return h('div', {}, ul, h('div', { class: 'row end' }, h('button', { onclick: () => close() }, 'Close')));
    });
  }

  async blockedUsers() {
    try {
      await this.engine.refreshBlocked();
    } catch (err) {
      return notify(describeError(err));
    }
    await modal('Blocked users', (close) => {
      const ul = h('ul', { class: 'plain-list' });
      for (const id of this.engine.blocked) {
        ul.append(h('li', { class: 'row' }, h('span', { class: 'grow' }, this.engine.userName(id)),
          h('button', { onclick: async () => {
            try {
              await this.engine.block(id, false);
              close();
            } catch (err) {
              notify(describeError(err));
            }
          } }, 'Unblock')));
      }
      if (!this.engine.blocked.size) ul.append(h('li', {}, 'You block nobody.'));
      return h('div', {}, ul, h('div', { class: 'row end' }, h('button', { onclick: () => close() }, 'Close')));
    });
  }

  /** Members, roles, rename, add, remove, leave, block: what the chat offers this user. */
  async chatInfo(chatId) {
    const e = this.engine;
    try {
      await e.refreshChat(chatId);
    } catch (err) {
      notify(describeError(err));
    }
    const c = e.chatState(chatId);
    if (!c) return;
    const manage = c.role === 'owner' || c.role === 'admin';
    const body = h('div', { class: 'stack', 'data-testid': 'chat-info' });
    const manageForms = (cur) => {
      const add = h('form', { class: 'row', onsubmit: (ev) => {
        ev.preventDefault();
        const name = add.elements.username.value.trim().toLowerCase();
        if (name) this.act(() => e.addMember(chatId, name)).then(() => { add.reset(); });
      } }, h('label', { for: 'add-member', class: 'sr-only' }, 'Add a member by username'),
      h('input', { id: 'add-member', name: 'username', placeholder: 'username to add', class: 'grow' }),
      h('button', { type: 'submit' }, 'Add'));
      const rename = h('form', { class: 'row', onsubmit: (ev) => {
        ev.preventDefault();
        const name = rename.elements.name.value.trim();
        if (name) this.act(() => e.renameChat(chatId, name));
      } }, h('label', { for: 'rename', class: 'sr-only' }, 'Group name'),
      h('input', { id: 'rename', name: 'name', value: cur.chat.name, class: 'grow' }),
      h('button', { type: 'submit' }, 'Rename'));
      return { add, rename, shownName: cur.chat.name };
    };
    let forms = null;
    const build = () => {
      const cur = e.chatState(chatId);
      if (!cur) return clear(body, h('p', {}, 'You are no longer in this chat.'));
      const members = h('ul', { class: 'plain-list', 'aria-label': 'Members' });
      for (const p of cur.participants || []) {
        const mine = e.me && p.userId === e.me.id;
        const pres = e.presence.get(p.userId);
        members.append(h('li', { class: 'row', 'data-testid': 'member' },
          h('span', { class: 'grow' }, e.userName(p.userId), mine ? ' (you)' : '', h('br'),
            h('small', {}, [p.role, mine ? '' : formatLastSeen(pres)].filter(Boolean).join(' · '))),
          manage && !mine && cur.chat.kind === 'group'
            ? h('select', { 'aria-label': `Role of ${e.userName(p.userId)}`, onchange: (ev) => this.act(
              () => e.modifyParticipants(chatId, { roles: [{ userId: p.userId, role: ev.target.value }] })) },
              ['member', 'admin', 'owner'].map((r) => h('option', { value: r, selected: r === p.role }, r)))
            : null,
          manage && !mine && cur.chat.kind === 'group'
            ? h('button', { onclick: () => this.act(() => e.modifyParticipants(chatId, { remove: [p.userId] })) }, 'Remove')
            : null,
          !mine && cur.chat.kind === 'direct'
            ? h('button', { onclick: () => this.act(() => e.block(p.userId, !e.blocked.has(p.userId))),
                            'data-testid': 'block' }, e.blocked.has(p.userId) ? 'Unblock' : 'Block')
            : null));
      }
      // Only the member list is redrawn when the chat changes: the forms below keep what the user is
      // typing, and their focus.
      const old = body.querySelector('ul[aria-label=Members]');
      if (old) {
        old.replaceWith(members);
        if (forms) {
          const input = forms.rename.elements.name;
          if (document.activeElement !== input && input.value === forms.shownName) input.value = cur.chat.name;
          forms.shownName = cur.chat.name;
        }
        return;
      }
      const parts = [h('h3', {}, 'Members'), members];
      if (manage && cur.chat.kind === 'group') {
        forms = manageForms(cur);
        parts.push(h('h3', {}, 'Manage'), forms.add, forms.rename);
      }
      if (cur.chat.kind === 'group') {
        parts.push(h('div', { class: 'row' }, h('button', { class: 'danger', onclick: async () => {
          if (await confirmDialog('Leave group', `Leave "${cur.chat.name}"?`, 'Leave')) {
            await this.act(() => e.leaveChat(chatId));
            this.openPanel = null;
            const dlg = body.closest('dialog');
            if (dlg) dlg.close();
          }
        } }, 'Leave group')));
      }
      clear(body, parts);
    };
    build();
    this.openPanel = build;
    await modal(`About ${e.chatTitle(c)}`, (close) => h('div', {}, body,
      h('div', { class: 'row end' }, h('button', { onclick: () => close() }, 'Close'))));
    this.openPanel = null;
  }

  async act(fn) {
    try {
      await fn();
    } catch (err) {
      notify(describeError(err));
    }
  }
}

