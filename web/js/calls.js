// Audio/video calls over WebRTC, signalled through chatd (docs/protocol.md, "Calls"). One call at a
// time. The media flows between the two browsers (or through the TURN relay chatd hands credentials
// for); chatd relays only the SDP and ICE candidates.
//
// The caller makes its offer before it knows the call's ICE servers (they come in callInvite's
// answer), so it starts with the ones the last call handed out (kept in IndexedDB) and switches to the
// new ones once they arrive; the callee gets them with callRing, before its answer.
//
// Ringing stops with callEnded, or, if that never comes (the connection dropped at the wrong moment,
// or the server node holding the call died), when the call's entry arrives in the chat or at its
// ringUntil. A device that signs in while a call rings gets callRing again (docs/protocol.md): the same
// callId is the same call.

import { ProtocolError } from './protocol.js';

const DEFAULT_RING_MS = 45000;     // chatd's --call-ring-timeout default.
const MAX_RING_MS = 10 * 60000;    // Beyond it, ringUntil is taken for a clock out of step.
const RING_GRACE_MS = 5000;        // callEnded "timeout" normally comes first.

/**
 * state.phase: "idle" | "outgoing" (ringing the others) | "incoming" (ringing here) | "active"
 * state.connection: RTCPeerConnection.connectionState once there is one ("new", "connecting",
 * "connected", "disconnected", "failed", "closed").
 */
export class CallController extends EventTarget {
  constructor(engine) {
    super();
    this.engine = engine;
    engine.callHandler = (name, data) => this.onEvent(name, data);
    this.reset();
  }

  reset() {
    clearTimeout(this.ringTimer);
    this.ringTimer = null;
    if (this.pc) {
      this.pc.onicecandidate = this.pc.onconnectionstatechange = this.pc.ontrack = null;
      this.pc.close();
    }
    if (this.localStream) for (const t of this.localStream.getTracks()) t.stop();
    this.pc = null;
    this.localStream = null;
    this.remoteStream = null;
    this.callId = null;
    this.chatId = null;
    this.media = 'audio';
    this.phase = 'idle';
    this.connection = '';
    this.peerName = '';
    this.ring = null;           // The callRing data while ringing here.
    this.queuedIce = [];        // Our candidates waiting for the callId (caller) or the accept (callee).
    this.canSendIce = false;
    this.ended = null;          // {reason, outcome} of the last call, shown until the next.
    this.emit();
  }

  emit() {
    this.dispatchEvent(new CustomEvent('change'));
  }

  // Stops ringing at `ringUntil` (the server's clock) and a few seconds more, should no callEnded come.
  // A clock that disagrees with the server's by more than the ring itself gets the server's default.
  watchRing(callId, ringUntil) {
    clearTimeout(this.ringTimer);
    let left = (ringUntil || 0) - Date.now();
    if (!(left > 0 && left <= MAX_RING_MS)) left = DEFAULT_RING_MS;
    this.ringTimer = setTimeout(() => this.ringLapsed(callId), left + RING_GRACE_MS);
  }

  ringLapsed(callId) {
    if (this.callId !== callId || (this.phase !== 'incoming' && this.phase !== 'outgoing')) return;
    const outgoing = this.phase === 'outgoing';
    this.reset();
    this.ended = { reason: 'timeout', outcome: 'missed' };
    this.emit();
    // The caller tells the server, in case it still holds the call (not_found if it ended it).
    if (outgoing) this.engine.request('callHangup', { callId }).catch(() => {});
  }

  fail(e) {
    this.engine.problem(e, 'call');
  }

  async getMedia(media) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error('this browser offers no camera or microphone here (calls need https or localhost)');
    }
    return navigator.mediaDevices.getUserMedia({ audio: true, video: media === 'video' });
  }

  makePeer(iceServers) {
    const pc = new RTCPeerConnection({ iceServers });
    pc.onicecandidate = (e) => {
      if (!e.candidate) return;
      const c = e.candidate.toJSON();
      if (this.canSendIce && this.callId) this.sendIce(c);
      else this.queuedIce.push(c);
    };
    pc.onconnectionstatechange = () => {
      this.connection = pc.connectionState;
      this.emit();
    };
    pc.ontrack = (e) => {
      this.remoteStream = e.streams[0] || new MediaStream([e.track]);
      this.emit();
    };
    this.connection = pc.connectionState;
    return pc;
  }

  sendIce(candidate) {
    this.engine.request('callIce', { callId: this.callId, candidate }).catch((e) => {
      // A candidate the call no longer needs (it ended meanwhile) is not worth a message.
      if (!(e instanceof ProtocolError && e.code === 'not_found')) this.fail(e);
    });
  }

  flushIce() {
    const queued = this.queuedIce;
    this.queuedIce = [];
    for (const c of queued) this.sendIce(c);
  }

  /** Calls the other members of `chatId`. */
  async start(chatId, media) {
    if (this.phase !== 'idle') return;
    this.reset();
    this.phase = 'outgoing';
    this.chatId = chatId;
    this.media = media;
    this.peerName = this.engine.chatTitle(this.engine.chatState(chatId));
    this.emit();
    try {
      this.localStream = await this.getMedia(media);
      this.pc = this.makePeer(await this.engine.storedIceServers());
      for (const t of this.localStream.getTracks()) this.pc.addTrack(t, this.localStream);
      await this.pc.setLocalDescription(await this.pc.createOffer());
      const r = await this.engine.request('callInvite', { chatId, media, sdp: this.pc.localDescription.sdp });
      if (this.phase !== 'outgoing') return;  // Hung up while the invite was on its way.
      this.callId = r.callId;
      this.watchRing(r.callId, r.ringUntil);
      this.engine.rememberIceServers(r.iceServers);
      if (r.iceServers && r.iceServers.length) this.pc.setConfiguration({ iceServers: r.iceServers });
      // The caller may trickle candidates while the call rings (they are held for the callee).
      this.canSendIce = true;
      this.flushIce();
      this.emit();
    } catch (e) {
      this.fail(e);
      this.reset();
    }
  }

  async accept() {
    const ring = this.ring;
    if (this.phase !== 'incoming' || !ring) return;
    this.phase = 'active';
    clearTimeout(this.ringTimer);
    this.emit();
    try {
      this.localStream = await this.getMedia(ring.media);
      this.pc = this.makePeer(ring.iceServers || []);
      await this.pc.setRemoteDescription({ type: 'offer', sdp: ring.sdp });
      for (const t of this.localStream.getTracks()) this.pc.addTrack(t, this.localStream);
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      const r = await this.engine.request('callAccept', { callId: ring.callId, sdp: this.pc.localDescription.sdp });
      this.engine.rememberIceServers(r.iceServers);
      // A callee sends candidates only once it has accepted.
      this.canSendIce = true;
      this.flushIce();
      this.emit();
    } catch (e) {
      this.fail(e);
      this.hangup();
    }
  }

  async decline() {
    if (this.phase !== 'incoming' || !this.ring) return;
    const callId = this.ring.callId;
    this.reset();
    try {
      await this.engine.request('callReject', { callId, reason: 'declined' });
    } catch (e) {
      if (!(e instanceof ProtocolError && e.code === 'not_found')) this.fail(e);
    }
  }

  async hangup() {
    const callId = this.callId;
    const wasIncoming = this.phase === 'incoming';
    this.reset();
    if (!callId) return;
    try {
      await this.engine.request(wasIncoming ? 'callReject' : 'callHangup', { callId });
    } catch (e) {
      if (!(e instanceof ProtocolError && e.code === 'not_found')) this.fail(e);
    }
  }

  async onEvent(name, data) {
    try {
      switch (name) {
        case 'callRing':
          if (data.callId === this.callId) {
            // Rung again after signing in again: the same call (with fresh TURN credentials).
            if (this.phase === 'incoming') {
              this.ring = data;
              this.watchRing(data.callId, data.ringUntil);
              this.emit();
            }
            return;
          }
          if (this.phase !== 'idle') {
            // protocol.md: "busy" tells the caller this user is in another call.
            this.engine.request('callReject', { callId: data.callId, reason: 'busy' }).catch(() => {});
            return;
          }
          this.reset();
          this.phase = 'incoming';
          this.ring = data;
          this.callId = data.callId;
          this.chatId = data.chatId;
          this.media = data.media;
          this.peerName = this.engine.userName(data.callerId);
          this.watchRing(data.callId, data.ringUntil);
          this.emit();
          break;
        case 'callAccepted':
          if (data.callId !== this.callId || !this.pc) return;
          this.phase = 'active';
          clearTimeout(this.ringTimer);
          await this.pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
          this.emit();
          break;
        case 'callIce':
          if (data.callId !== this.callId || !this.pc) return;
          await this.pc.addIceCandidate(data.candidate);
          break;
        case 'callRejected':
          break;  // A group call goes on while others ring.
        case 'callEnded':
          if (data.callId !== this.callId) return;
          this.reset();
          this.ended = { reason: data.reason, outcome: data.outcome || '' };
          this.emit();
          break;
        case 'callLogged':
          // The call's entry (engine.js): written once the call ended, whether or not its callEnded
          // reached this device.
          if (data.callId !== this.callId || this.phase === 'idle') return;
          this.reset();
          this.ended = { reason: 'logged', outcome: data.outcome || '' };
          this.emit();
          break;
        default:
          break;
      }
    } catch (e) {
      this.fail(e);
    }
  }
}
