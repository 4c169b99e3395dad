// The WebSocket connection to chatd (docs/protocol.md): request ids, responses, events, and reconnecting
// with exponential backoff and jitter. What happens once a connection is open (resume, sync, the outbox)
// belongs to the caller's onOpen hook; this module knows only the wire.

/** An error answer of the server, or a request that got none (code "unavailable"). */
export class ProtocolError extends Error {
  constructor(code, message, retryAfterMs = null) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
  /** The server may accept the same request later (protocol.md, rule 8). */
  get retryable() {
    return this.code === 'unavailable' || this.code === 'resource_exhausted';
  }
}

/** The WebSocket URL of the chatd that served this page: wss:// when the page came over https. */
export function defaultUrl(loc = window.location) {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws`;
}

const REQUEST_TIMEOUT_MS = 15000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30000;

/**
 * One logical connection that keeps itself open.
 *
 * states: "offline" (no socket; waiting to retry or the browser is offline), "connecting" (socket
 * opening, hello, onOpen running), "online" (onOpen finished: signed in and synced), "stopped".
 *
 * options.onOpen(conn): async, runs after hello on each new socket; resolves once the session is
 *   ready (resume + sync). Throwing closes the socket and retries with backoff, unless the error's
 *   code is "unauthenticated" or "permission_denied" (the session is gone: onSessionLost).
 * options.onEvent(name, data): each server event.
 * options.onState(state, detail): state changes; detail.close = {code, reason} when a socket closed.
 * options.onSessionLost(reason): the server ended this device's session (logout, revoked, token
 *   expired): do not reconnect.
 */
export class Connection {
  constructor(options) {
    this.url = options.url || defaultUrl();
    this.onOpen = options.onOpen;
    this.onEvent = options.onEvent || (() => {});
    this.onState = options.onState || (() => {});
    this.onSessionLost = options.onSessionLost || (() => {});
    this.ws = null;
    this.state = 'offline';
    this.nextId = 1;
    this.pending = new Map();
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.hello = null;
    this.openGeneration = 0;
    this.lastClose = null;
    this.onBrowserOnline = () => this.reconnectNow();
    this.onBrowserOffline = () => this.dropSocket('the browser is offline');
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onBrowserOnline);
    window.addEventListener('offline', this.onBrowserOffline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onBrowserOnline);
    window.removeEventListener('offline', this.onBrowserOffline);
    clearTimeout(this.timer);
    this.dropSocket('stopped', 1000);
    this.setState('stopped');
  }

  /** Retry at once (the browser came back online, or the user asked). */
  reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  setState(state, detail = {}) {
    if (this.state === state && !detail.close) return;
    this.state = state;
    this.onState(state, detail);
  }

  connect() {
    if (this.stopped || this.ws) return;
    if (navigator.onLine === false) {
      this.setState('offline');
      return;  // The 'online' event brings us back.
    }
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    const generation = ++this.openGeneration;
    ws.onopen = async () => {
      try {
        this.hello = await this.request('hello', { version: 1 }, { socket: ws });
        await this.onOpen(this);
        if (this.ws !== ws || generation !== this.openGeneration) return;
        this.attempt = 0;
        this.setState('online');
      } catch (e) {
        if (this.ws !== ws) return;
        if (e instanceof ProtocolError && (e.code === 'unauthenticated' || e.code === 'permission_denied')) {
          this.stopped = true;
          this.dropSocket(e.message, 1000);
          this.onSessionLost(e.message);
          return;
        }
        this.dropSocket(`could not start the session: ${e.message}`, 1000);
      }
    };
    ws.onmessage = (m) => this.handleFrame(m.data);
    ws.onclose = (ev) => this.handleClose(ws, ev.code, ev.reason);
    ws.onerror = () => {};  // onclose follows with the details there are.
  }

  handleFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame === null || typeof frame !== 'object') return;
    if (typeof frame.event === 'string') {
      try {
        this.onEvent(frame.event, frame.data || {});
      } catch (e) {
        console.error('event handler failed', frame.event, e);
      }
      return;
    }
    const p = this.pending.get(frame.id);
    if (!p) return;
    this.pending.delete(frame.id);
    clearTimeout(p.timer);
    if (frame.ok) {
      p.resolve(frame.result || {});
    } else {
      const err = frame.error || {};
      p.reject(new ProtocolError(err.code || 'internal', err.message || 'request failed',
                                 Number.isInteger(err.retryAfterMs) ? err.retryAfterMs : null));
    }
  }

  handleClose(ws, code, reason) {
    if (this.ws !== ws) return;
    this.ws = null;
    this.lastClose = { code, reason };
    this.failPending(new ProtocolError('unavailable', 'the connection closed'));
    this.setState('offline', { close: { code, reason } });
    if (this.stopped) return;
    // protocol.md, "Close codes": these end the session for good.
    if (code === 4001 || (code === 1000 && reason === 'logged out')) {
      this.stopped = true;
      this.onSessionLost(code === 4001 ? 'this device was signed out (session revoked)' : 'logged out');
      return;
    }
    this.scheduleRetry();
  }

  dropSocket(why, code = 1000) {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close(code, why.slice(0, 100));
    } catch {
      // Closing an already broken socket may throw; it is gone either way.
    }
    this.failPending(new ProtocolError('unavailable', why));
    this.setState('offline', { close: { code: 0, reason: why } });
    if (!this.stopped) this.scheduleRetry();
  }

  failPending(error) {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
  }

  scheduleRetry() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    // Exponential with full jitter (protocol.md rule 8): many clients of a restarted server spread out.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = ceiling / 2 + Math.random() * ceiling / 2;
    this.attempt = Math.min(this.attempt + 1, 16);
    this.retryAt = Date.now() + delay;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /**
   * Sends {id, cmd, ...args} and resolves with the result, or rejects with a ProtocolError (the
   * server's, or "unavailable" when there is no connection or no answer in time).
   */
  request(cmd, args = {}, { timeoutMs = REQUEST_TIMEOUT_MS, socket = null } = {}) {
    const ws = socket || this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || (!socket && this.state !== 'online' && !this.inOpenHook(cmd))) {
      return Promise.reject(new ProtocolError('unavailable', 'not connected to the server'));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError('unavailable', `no answer to ${cmd} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...args, id, cmd }));
    });
  }

  // While onOpen runs (state "connecting") its own requests go out; others wait for "online".
  inOpenHook() {
    return this.state === 'connecting';
  }
}
