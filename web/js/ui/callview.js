// The call panel: ringing (accept / decline), the call in progress (videos, its connection state,
// hang up), and how the last call ended.

import { h, clear } from './dom.js';

const ENDED_WORDS = {
  hangup: 'The call ended.',
  canceled: 'The caller hung up.',
  timeout: 'No answer.',
  rejected: 'The call was declined.',
  busy: 'Busy in another call.',
  answered_elsewhere: 'Answered on another device.',
  rejected_elsewhere: 'Declined on another device.',
  max_duration: 'The call reached its longest allowed duration.',
  node_failed: 'The call was cut off.',
  logged: 'The call ended.',
};

export class CallView {
  constructor(root, calls, engine) {
    this.root = root;
    this.calls = calls;
    this.engine = engine;
    this.shownPhase = null;
    calls.addEventListener('change', () => this.render());
    this.render();
  }

  render() {
    const c = this.calls;
    if (c.phase === 'idle') {
      this.shownPhase = 'idle';
      this.remoteVideo = this.localVideo = null;
      if (c.ended) {
        clear(this.root, h('div', { class: 'call-ended', role: 'status', 'data-testid': 'call-ended' },
          ENDED_WORDS[c.ended.reason] || 'The call ended.',
          h('button', { class: 'icon', 'aria-label': 'Dismiss', onclick: () => { c.ended = null; this.render(); } }, '×')));
        this.root.hidden = false;
      } else {
        clear(this.root);
        this.root.hidden = true;
      }
      return;
    }
    this.root.hidden = false;
    const stateText = c.phase === 'incoming' ? `Incoming ${c.media} call`
      : c.phase === 'outgoing' && !c.connection.match(/connect/) ? 'Ringing…'
        : c.connection || 'connecting';
    if (this.shownPhase !== c.phase) {
      this.shownPhase = c.phase;
      this.state = h('p', { class: 'call-state', 'data-testid': 'call-state', role: 'status' });
      this.remoteVideo = h('video', { class: 'remote', autoplay: true, playsinline: true, 'aria-label': 'The other person' });
      this.localVideo = h('video', { class: 'local', autoplay: true, playsinline: true, muted: true, 'aria-label': 'You' });
      this.localVideo.muted = true;
      const buttons = c.phase === 'incoming'
        ? [h('button', { class: 'primary', 'data-testid': 'call-accept', onclick: () => c.accept() }, 'Accept'),
           h('button', { class: 'danger', 'data-testid': 'call-decline', onclick: () => c.decline() }, 'Decline')]
        : [h('button', { class: 'danger', 'data-testid': 'call-hangup', onclick: () => c.hangup() }, 'Hang up')];
      clear(this.root, h('section', { class: 'call-panel', role: c.phase === 'incoming' ? 'alertdialog' : 'region',
                                      'aria-label': `Call with ${c.peerName}` },
        h('h2', {}, c.peerName),
        this.state,
        h('div', { class: 'videos' }, this.remoteVideo, this.localVideo),
        h('div', { class: 'row' }, buttons)));
      buttons[0].focus();
    }
    this.state.textContent = stateText;
    this.state.dataset.state = c.phase === 'active' || c.phase === 'outgoing' ? (c.connection || 'new') : c.phase;
    if (this.remoteVideo && c.remoteStream && this.remoteVideo.srcObject !== c.remoteStream) this.remoteVideo.srcObject = c.remoteStream;
    if (this.localVideo && c.localStream && this.localVideo.srcObject !== c.localStream) this.localVideo.srcObject = c.localStream;
  }
}
