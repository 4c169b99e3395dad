// Attachments (docs/protocol.md, "Attachments"): announce with createAttachment, PUT the bytes with a
// progress callback, send a message naming the id; download with the session token, with progress.

import { ProtocolError } from './protocol.js';

// protocol.md, "Attachment types": the MIME types image, audio and video accept.
const KIND_TYPES = {
  image: ['image/png', 'image/jpeg', 'image/gif', 'image/webp'],
  audio: ['audio/mpeg', 'audio/wav', 'audio/x-wav', 'audio/ogg', 'audio/opus', 'audio/webm', 'audio/mp4',
          'audio/x-m4a', 'audio/flac'],
  video: ['video/mp4', 'video/quicktime', 'video/3gpp', 'video/webm', 'video/x-matroska', 'video/ogg'],
};

const EXTENSION_TYPES = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp',
  mp3: 'audio/mpeg', wav: 'audio/wav', ogg: 'audio/ogg', opus: 'audio/opus', m4a: 'audio/mp4', flac: 'audio/flac',
  mp4: 'video/mp4', mov: 'video/quicktime', webm: 'video/webm', mkv: 'video/x-matroska',
  pdf: 'application/pdf', zip: 'application/zip', txt: 'text/plain', epub: 'application/epub+zip',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  odt: 'application/vnd.oasis.opendocument.text',
};

const TYPE_EXTENSIONS = Object.fromEntries(Object.entries(EXTENSION_TYPES).map(([e, t]) => [t, e]));

/** {kind, mimeType} for a File: its MIME type (or its extension's), and the kind that accepts it. */
export function classify(file) {
  let mime = (file.type || '').toLowerCase();
  if (!mime) {
    const ext = (file.name.split('.').pop() || '').toLowerCase();
    mime = EXTENSION_TYPES[ext] || 'application/octet-stream';
  }
  for (const [kind, types] of Object.entries(KIND_TYPES)) {
    if (types.includes(mime)) return { kind, mimeType: mime };
  }
  // image/bmp and the like are no document either: the server's invalid_argument explains it.
  const major = mime.split('/')[0];
  if (major === 'image' || major === 'audio' || major === 'video') return { kind: major, mimeType: mime };
  return { kind: 'document', mimeType: mime };
}

/** A file name to save an attachment under: the message's text if it looks like one. */
export function downloadName(body, attachmentId, mimeType) {
  const line = (body || '').trim();
  if (/^[^\\/:*?"<>|\r\n]{1,120}\.[A-Za-z0-9]{1,8}$/.test(line)) return line;
  const ext = TYPE_EXTENSIONS[(mimeType || '').split(';')[0]] || 'bin';
  return `attachment-${attachmentId.slice(0, 8)}.${ext}`;
}

/** SHA-256 of a Blob as lower-case hex (WebCrypto; a plain-JS fallback outside secure contexts). */
export async function sha256Hex(blob) {
  const data = new Uint8Array(await blob.arrayBuffer());
  if (globalThis.crypto && crypto.subtle) {
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
    return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  return sha256Fallback(data);
}

function httpError(xhr) {
  let code = 'unavailable';
  let message = `HTTP ${xhr.status}`;
  try {
    const j = JSON.parse(xhr.responseText);
    if (j.code) code = j.code;
    if (j.message) message = j.message;
  } catch {
    if (xhr.status === 0) message = 'the connection failed';
  }
  return new ProtocolError(code, message);
}

/**
 * Uploads `file` as a new attachment. onProgress(fraction 0..1) as the bytes go out. Resolves with
 * the attachment JSON (state "complete").
 */
export async function uploadAttachment(engine, file, onProgress = () => {}) {
  const { kind, mimeType } = classify(file);
  onProgress(0);
  const sha256 = await sha256Hex(file);
  const created = await engine.request('createAttachment', { kind, mimeType, size: file.size, sha256 });
  const token = engine.session.token;
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', created.uploadPath);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Content-Type', mimeType);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status !== 200) return reject(httpError(xhr));
      onProgress(1);
      try {
        resolve(JSON.parse(xhr.responseText).attachment);
      } catch {
        resolve(created.attachment);
      }
    };
    xhr.onerror = () => reject(new ProtocolError('unavailable', 'the upload failed: no connection'));
    xhr.send(file);
  });
}

/** Downloads an attachment: resolves with a Blob (typed by the server); onProgress(0..1). */
export function downloadAttachment(engine, attachmentId, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    if (!engine.session) return reject(new ProtocolError('unauthenticated', 'not signed in'));
    const xhr = new XMLHttpRequest();
    xhr.open('GET', `/v1/attachments/${encodeURIComponent(attachmentId)}`);
    xhr.responseType = 'blob';
    xhr.setRequestHeader('Authorization', `Bearer ${engine.session.token}`);
    xhr.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = async () => {
      if (xhr.status !== 200) {
        // The error body is JSON; the response came as a Blob.
        const text = await xhr.response.text().catch(() => '');
        return reject(httpError({ status: xhr.status, responseText: text }));
      }
      onProgress(1);
      resolve(xhr.response);
    };
    xhr.onerror = () => reject(new ProtocolError('unavailable', 'the download failed: no connection'));
    xhr.send();
  });
}

// ---- SHA-256 in plain JS (FIPS 180-4), for pages served over plain http from another host, where
// WebCrypto is not available. ----

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export function sha256Fallback(data) {
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                             0x5be0cd19]);
  const bitLen = data.length * 8;
  const padded = new Uint8Array(((data.length + 9 + 63) >> 6) << 6);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 2 ** 32));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const w = new Uint32Array(64);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15], b = w[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i] + w[i]) >>> 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  return Array.from(h, (x) => x.toString(16).padStart(8, '0')).join('');
}
