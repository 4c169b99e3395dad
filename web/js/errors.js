// Errors in words for a person: the kind of problem, then the server's own explanation.

import { ProtocolError } from './protocol.js';

const CODE_WORDS = {
  bad_request: 'The app sent a request the server could not read',
  unknown_command: 'The server does not know this command',
  frame_too_large: 'That is too large to send',
  unsupported_version: 'The server speaks another protocol version',
  unauthenticated: 'Not signed in',
  permission_denied: 'Not allowed',
  invalid_argument: 'Not accepted',
  not_found: 'Not found',
  already_exists: 'Already exists',
  failed_precondition: 'Not possible right now',
  resource_exhausted: 'Too many requests',
  unavailable: 'No connection to the server',
  internal: 'The server had a problem',
  corruption: 'The server had a problem',
  not_supported: 'The server does not support this',
};

/** An error in words for a person: what kind of problem, and the server's explanation. */
export function describeError(e) {
  if (e instanceof ProtocolError) {
    const head = CODE_WORDS[e.code] || 'Error';
    let text = `${head}: ${e.message}`;
    if (e.retryAfterMs !== null && e.retryAfterMs > 0 && e.code !== 'unavailable') {
      text += ` (try again in ${Math.ceil(e.retryAfterMs / 1000)} s)`;
    }
    return text;
  }
  return e && e.message ? e.message : String(e);
}
