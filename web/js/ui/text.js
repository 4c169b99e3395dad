// Words for what the server writes: previews, initials, membership/deletion/call entries.

export const USER_PREVIEW = { image: 'Photo:', audio: 'Audio:', video: 'Video:', document: 'File:' };

export function initials(name) {
  const parts = String(name).trim().split(/\s+/).filter(Boolean);
  return (parts.length > 1 ? parts[0][0] + parts[1][0] : String(name).slice(0, 2)).toUpperCase();
}

/** Words for an entry the server wrote (membership, deletion, call). */
export function systemText(engine, m) {
  let body = {};
  try {
    body = JSON.parse(m.body || '{}');
  } catch {
    body = {};
  }
  const name = (id) => engine.userName(id);
  if (m.kind === 'deletion') return 'A message was deleted';
  if (m.kind === 'call') {
    const media = body.media === 'video' ? 'Video call' : 'Call';
    if (body.outcome === 'completed') {
      const s = Math.round((body.durationMs || 0) / 1000);
      return `${media}, ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
    }
    return `${media} ${body.outcome || 'ended'}`;
  }
  if (m.kind === 'membership') {
    const actor = body.by || body.userId || m.sender;
    const by = actor ? name(actor) : 'someone';
    switch (body.action) {
      case 'created': return `${by} created the chat`;
      case 'left': return `${by} left`;
      case 'renamed':
      case 'updated': return `${by} changed the chat${body.name ? ` name to "${body.name}"` : ''}`;
      default: {
        const bits = [];
        if (body.added && body.added.length) bits.push(`added ${body.added.map(name).join(', ')}`);
        if (body.removed && body.removed.length) bits.push(`removed ${body.removed.map(name).join(', ')}`);
        if (body.roles && body.roles.length) {
          bits.push(body.roles.map((r) => `made ${name(r.userId)} ${r.role}`).join(', '));
        }
        return bits.length ? `${by} ${bits.join('; ')}` : `${by} changed the members`;
      }
    }
  }
  return m.kind;
}
