// The agent API as the page uses it: the session cookie signs every request, and
// changes carry the session's CSRF token. Errors come back as ApiError with the
// API's own code and message, so the page can show the real reason.

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message);
    this.status = status;
    this.code = error.code;
    this.details = error; // e.g. `changes` of a held reply
  }
}

async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, { code: 'offline', message: 'The gateway cannot be reached. Check the connection and try again.' });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, data && data.error ? data.error : { code: 'http_' + response.status, message: response.statusText });
  }
  return data;
}

function remember(session) {
  csrfToken = session.csrf_token;
  return session;
}

export const session = () => request('GET', '/api/v1/session').then(remember);
export const signIn = (token) => request('POST', '/api/v1/session', { token }).then(remember);
export const signOut = () => request('DELETE', '/api/v1/session').finally(() => { csrfToken = null; });

// The filters that are set, as a query string; `q` only where it applies.
function filterQuery(filters, { search = true } = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value && (search || key !== 'q')) query.set(key, value);
  return query;
}

export function tickets(filters, cursor) {
  const query = filterQuery(filters);
  if (cursor) query.set('cursor', cursor);
  return request('GET', '/api/v1/tickets?' + query);
}

// Counts ignore the search: they are the filters' numbers.
export const counts = (filters) => request('GET', '/api/v1/tickets/counts?' + filterQuery(filters, { search: false }));
export const channels = () => request('GET', '/api/v1/channels');
export const retry = (messageId) => request('POST', '/api/v1/messages/' + encodeURIComponent(messageId) + '/retry');

const ticketPath = (key) => '/api/v1/tickets/' + encodeURIComponent(key);
export const ticket = (key) => request('GET', ticketPath(key));
export const updateTicket = (key, patch) => request('PATCH', ticketPath(key), patch);
export const reply = (key, text, attachments, seenMessageId) =>
  request('POST', ticketPath(key) + '/replies', { text, attachments, seen_message_id: seenMessageId });
export const presence = (key) => request('GET', ticketPath(key) + '/presence');
export const reportPresence = (key, state) => request('POST', ticketPath(key) + '/presence', { state });
export const note = (key, text) => request('POST', ticketPath(key) + '/notes', { text });
export const canned = (key) => request('GET', '/api/v1/canned?' + new URLSearchParams({ ticket: key }));
export const suggestions = (key) => request('GET', ticketPath(key) + '/suggestions');
export const attachmentUrl = (id) => '/api/v1/attachments/' + encodeURIComponent(id);
export const mailBodyUrl = (id) => '/api/v1/messages/' + encodeURIComponent(id) + '/html';
