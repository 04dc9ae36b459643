// The agents' inbox: sign-in, the ticket list with its filters, one conversation,
// the reply box, and the live feed keeping all of it current.

import * as api from './api.js';
import { follow } from './feed.js';
import { h, replace, when, bytes } from './dom.js';
import * as helpdesk from './helpdesk.js';

const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  channels: [],
  categories: [],   // what the helpdesk rules name, for the category picker
  tickets: [],
  cursor: null,
  selected: null,   // reference of the open ticket
  detail: null,     // its last loaded detail
  seenId: null,     // the newest message (notes aside) the agent has read on it
  feed: null,
  files: [],        // attachments picked for the reply
  presence: new Map(), // ticket id → who is on it (agents, a typing customer), from the live feed
  notice: null,     // the outcome of the last send on the open ticket
};

// --- unread markers: what this agent has seen, kept in this browser -------------

const seenKey = () => 'switchboard.seen.' + state.me.name;
function seen() {
  try { return JSON.parse(localStorage.getItem(seenKey())) || {}; } catch { return {}; }
}
function markSeen(ticket) {
  const all = seen();
  all[ticket.id] = ticket.last_message_at;
  localStorage.setItem(seenKey(), JSON.stringify(all));
}
const isUnread = (ticket) => {
  const at = seen()[ticket.id];
  return !at || at < ticket.last_message_at;
};

// --- sign-in ----------------------------------------------------------------

async function boot() {
  try {
    start(await api.session());
  } catch (error) {
    if (error.status === 401) showSignIn();
    else showSignIn(error.message);
  }
}

function showSignIn(message) {
  if (state.feed) state.feed.stop();
  state.feed = null;
  $('inbox').hidden = true;
  $('signin').hidden = false;
  const error = $('signin-error');
  error.hidden = !message;
  error.textContent = message || '';
  $('token').focus();
}

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const token = $('token').value.trim();
  try {
    const session = await api.signIn(token);
    $('token').value = '';
    start(session);
  } catch (error) {
    showSignIn(error.status === 401 ? 'That token is not an agent’s.' : error.message);
  }
});

$('signout').addEventListener('click', async () => {
  report('left');
  await api.signOut().catch(() => {});
  state.selected = null;
  replace($('ticket-pane'));
  showSignIn();
});

function start(session) {
  state.me = { name: session.name, role: session.role };
  state.channels = session.channels;
  state.categories = session.categories || [];
  $('signin').hidden = true;
  $('inbox').hidden = false;
  $('agent-name').textContent = session.name + (session.role === 'agent' ? '' : ' (' + session.role + ')');
  // Admin views are only offered to admins; the gateway refuses them to anyone else.
  $('channels-button').hidden = session.role !== 'admin';
  const channel = $('filter-channel');
  replace(channel, h('option', { value: '' }, 'All channels'),
    session.channels.map((c) => h('option', { value: c.id }, c.id + ' (' + c.kind + ')')));
  for (const option of $('filters').querySelectorAll('option')) option.dataset.label = option.textContent;
  state.feed = follow({
    onEvent: handleEvent,
    onPresence: (update) => { state.presence.set(update.ticket_id, update); showPresence(); },
    onReload: () => { loadList(); if (state.selected) loadTicket(state.selected); },
    onState: showConnection,
    onSignedOut: () => showSignIn('Your session ended. Sign in again.'),
  });
  loadList();
}

function showConnection(connection) {
  const label = { live: 'Live', connecting: 'Reconnecting…', offline: 'Offline, retrying…' }[connection];
  const element = $('connection');
  element.dataset.state = connection;
  element.textContent = label;
}

// --- the ticket list ----------------------------------------------------------

function filters() {
  const assignee = $('filter-assignee').value;
  return {
    q: $('search').value.trim(),
    status: $('filter-status').value,
    channel: $('filter-channel').value,
    assignee: assignee === 'me' ? state.me.name : assignee,
    priority: $('filter-priority').value,
    category: $('filter-category').value,
  };
}

let listRequest = 0;
async function loadList(more = false) {
  const request = ++listRequest;
  try {
    const page = await api.tickets(filters(), more ? state.cursor : null);
    if (request !== listRequest) return; // a newer filter won
    state.tickets = more ? state.tickets.concat(page.tickets) : page.tickets;
    state.cursor = page.next_cursor;
    renderList();
    if (!more) loadCounts();
  } catch (error) {
    if (error.status === 401) showSignIn('Your session ended. Sign in again.');
    else flash(error.message);
  }
}

function renderList() {
  const list = $('tickets');
  replace(list, state.tickets.map((ticket) => {
    const unread = isUnread(ticket) && ticket.reference !== state.selected;
    const sla = ticket.status === 'resolved' || ticket.status === 'closed' ? null : helpdesk.pressingSla(ticket);
    return h('li', {},
      h('a', {
        href: '#' + ticket.reference,
        class: 'ticket' + (ticket.reference === state.selected ? ' selected' : '') + (unread ? ' unread' : ''),
        dataset: { reference: ticket.reference },
        'aria-current': ticket.reference === state.selected ? 'true' : null,
      },
      h('span', { class: 'ticket-top' },
        h('span', { class: 'reference' }, ticket.reference),
        unread ? h('span', { class: 'dot', title: 'Unread' }, '●') : null,
        h('span', { class: 'badge channel' }, ticket.channel),
        h('span', { class: 'badge status-' + ticket.status }, ticket.status),
        ticket.priority !== 'normal' ? h('span', { class: 'badge priority-' + ticket.priority }, ticket.priority) : null,
        sla ? helpdesk.slaBadge(sla) : null,
        helpdesk.sensitiveBadge(ticket)),
      h('span', { class: 'subject' }, ticket.subject || '(no subject)'),
      h('span', { class: 'ticket-bottom muted' },
        ticket.assignee ? ticket.assignee : 'Unassigned',
        ticket.team ? ' · ' + ticket.team : '',
        ticket.language ? h('span', { title: helpdesk.languageName(ticket.language) }, ' · ' + ticket.language) : null,
        ' · ', when(ticket.last_message_at))));
  }));
  $('list-empty').hidden = state.tickets.length > 0;
  $('more').hidden = !state.cursor;
}

// The number beside each filter's choices: what picking it would list with the
// other filters as they are.
let countsRequest = 0;
async function loadCounts() {
  const request = ++countsRequest;
  const counts = await api.counts(filters()).catch(() => null);
  if (!counts || request !== countsRequest) return;
  const tally = (facet) => new Map(counts[facet].map((c) => [c.value, c.tickets]));
  const sum = (map, skip) => [...map].reduce((n, [value, tickets]) => n + (value === skip ? 0 : tickets), 0);
  const label = (select, count) => {
    for (const option of $(select).options) {
      const n = count(option.value);
      option.textContent = option.dataset.label + (n === undefined ? '' : ' · ' + n);
    }
  };
  const status = tally('status');
  label('filter-status', (v) => (v ? status.get(v) || 0 : sum(status, 'filtered')));
  const channel = tally('channel');
  label('filter-channel', (v) => (v ? channel.get(v) || 0 : sum(channel)));
  const assignee = tally('assignee');
  label('filter-assignee', (v) => (v === 'me' ? assignee.get(state.me.name) || 0 : sum(assignee)));
  const priority = tally('priority');
  label('filter-priority', (v) => (v ? priority.get(v) || 0 : sum(priority)));
  // Categories come from the tickets themselves; none yet, no filter.
  const category = tally('category');
  const select = $('filter-category');
  const chosen = select.value;
  replace(select, h('option', { value: '', dataset: { label: 'All categories' } }, 'All categories'),
    [...category.keys()].filter((v) => v !== null)
      .map((v) => h('option', { value: v, selected: v === chosen, dataset: { label: v } }, v)));
  select.hidden = select.options.length === 1;
  label('filter-category', (v) => (v ? category.get(v) || 0 : sum(category)));
  $('list-count').textContent = $('search').value.trim() ? ''
    : counts.total + (counts.total === 1 ? ' ticket' : ' tickets');
}

let searchTimer = null;
$('search').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => loadList(), 250);
});
$('filters').addEventListener('submit', (event) => { event.preventDefault(); loadList(); });
for (const id of ['filter-status', 'filter-channel', 'filter-assignee', 'filter-priority', 'filter-category']) {
  $(id).addEventListener('change', () => loadList());
}
$('more').addEventListener('click', () => loadList(true));

$('tickets').addEventListener('click', (event) => {
  const link = event.target.closest('a.ticket');
  if (!link) return;
  event.preventDefault();
  openTicket(link.dataset.reference);
});

// --- live updates -------------------------------------------------------------

let listTimer = null;
const ticketTimers = new Map();
function handleEvent(event) {
  // Bursts (an album, a reply and its delivery) are folded into one reload each.
  clearTimeout(listTimer);
  listTimer = setTimeout(() => loadList(), 150);
  if (state.detail && state.detail.ticket.id === event.ticket_id) {
    clearTimeout(ticketTimers.get(event.ticket_id));
    ticketTimers.set(event.ticket_id, setTimeout(() => loadTicket(state.selected), 100));
  }
}

// --- who else is on the ticket ----------------------------------------------------

// Reports while a ticket is open, so that colleagues see it; the gateway forgets a
// report after 30 s, so a closed tab stops counting by itself.
function report(activity, reference = state.selected) {
  if (reference && !readOnly()) api.reportPresence(reference, activity).catch(() => {});
}

// An auditor reads every ticket and changes none: no reply box, no pickers.
const readOnly = () => state.me.role === 'auditor';
setInterval(() => { if (state.selected && !$('inbox').hidden) report(typingUntil > Date.now() ? 'typing' : 'viewing'); }, 10_000);

let typingUntil = 0;
function typing() {
  const now = Date.now();
  if (typingUntil - now > 5_000) return; // reported recently enough
  typingUntil = now + 8_000;
  report('typing');
}

function showPresence() {
  const line = $('presence');
  if (!line || !state.detail) return;
  const now = Date.now();
  const on = state.presence.get(state.detail.ticket.id) || { agents: [] };
  const others = on.agents.filter((a) => a.name !== state.me.name && a.viewing_until > now);
  const typists = others.filter((a) => a.typing_until > now).map((a) => a.name);
  const viewers = others.filter((a) => a.typing_until <= now).map((a) => a.name);
  const parts = [];
  const customerTyping = on.customer_typing_until > now;
  if (customerTyping) parts.push('The customer is typing…');
  if (typists.length) parts.push(typists.join(', ') + (typists.length === 1 ? ' is' : ' are') + ' typing a reply…');
  if (viewers.length) parts.push(viewers.join(', ') + (viewers.length === 1 ? ' is' : ' are') + ' viewing');
  line.textContent = parts.join(' · ');
  line.hidden = parts.length === 0;
  line.classList.toggle('typing', typists.length > 0 || customerTyping);
}
setInterval(showPresence, 2_000); // lapsed reports disappear without a new event
setInterval(() => helpdesk.refreshSla(), 20_000); // due times count down in place

// --- one ticket ---------------------------------------------------------------

function openTicket(reference) {
  if (state.selected === reference) return;
  if (state.selected) report('left');
  typingUntil = 0;
  state.selected = reference;
  state.notice = null;
  report('viewing', reference);
  api.presence(reference).then((update) => {
    state.presence.set(update.ticket_id, update);
    showPresence();
  }).catch(() => {});
  state.files = [];
  history.replaceState(null, '', '#' + reference);
  replace($('ticket-pane'), h('p', { class: 'muted center' }, 'Loading…'));
  renderList();
  loadTicket(reference);
}

async function loadTicket(reference) {
  try {
    const detail = await api.ticket(reference);
    if (state.selected !== reference) return;
    const first = !state.detail || state.detail.ticket.reference !== reference;
    if (first) state.seenId = newestId(detail.messages);
    state.detail = detail;
    renderTicket(detail, first);
    markSeen(detail.ticket);
  } catch (error) {
    if (state.selected !== reference) return;
    replace($('ticket-pane'), h('p', { class: 'error center' }, error.message));
  }
}

function renderTicket(detail, first) {
  const pane = $('ticket-pane');
  // A reload must not lose what the agent is typing.
  const draft = pane.querySelector('#reply-text');
  const text = draft ? draft.value : '';
  const focused = document.activeElement === draft;
  const scroller = pane.querySelector('.messages');
  const atBottom = !scroller || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;

  const { ticket, contact, messages, reply } = detail;
  const fresh = new Set(unseen(messages).map((m) => m.id));
  replace(pane,
    ticketHeader(ticket),
    helpdesk.sensitiveBanner(ticket),
    ticket.purged_at
      ? h('p', { class: 'purged-banner', id: 'purged', role: 'note' },
        'The messages’ contents and files were deleted on ', new Date(ticket.purged_at).toLocaleDateString(),
        contact.erased_at ? ', when the contact was erased on request.' : ', by the retention policy.')
      : null,
    contactCard(contact),
    h('ol', { class: 'messages', 'aria-label': 'Messages' }, messages.map((m) => messageItem(m, fresh.has(m.id)))),
    fresh.size ? changedBanner(unseen(messages), null) : null,
    readOnly()
      ? h('p', { class: 'reply muted', id: 'read-only' }, 'Read only: the auditor role changes nothing.')
      : replyBox(ticket, contact, reply));

  const box = pane.querySelector('#reply-text');
  if (box) {
    box.value = text;
    box.addEventListener('input', typing);
    if (focused) box.focus();
  }
  showPresence();
  const list = pane.querySelector('.messages');
  if (first || atBottom) list.scrollTop = list.scrollHeight;
}

// What the collision guard compares: the newest message a customer or agent wrote.
function newestId(messages) {
  return messages.filter((m) => m.direction !== 'note').reduce((max, m) => Math.max(max, m.id), 0);
}

const unseen = (messages) => messages.filter((m) => m.direction !== 'note' && m.id > state.seenId);

function select(label, value, options, onChange) {
  return h('label', { class: 'field' }, label,
    h('select', { onchange: (e) => onChange(e.target.value), disabled: readOnly() },
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
}

function ticketHeader(ticket) {
  const patch = (fields) => api.updateTicket(ticket.reference, fields)
    .then(() => loadTicket(ticket.reference))
    .catch((error) => flash(error.message));
  const me = state.me.name;
  const assignees = [['', 'Unassigned'], [me, me + ' (me)']];
  if (ticket.assignee && ticket.assignee !== me) assignees.push([ticket.assignee, ticket.assignee]);
  return h('header', { class: 'ticket-header' },
    h('div', { class: 'title' },
      h('h2', {}, ticket.subject || '(no subject)'),
      h('span', { class: 'reference', title: 'The ticket’s reference: customers can quote it' }, ticket.reference),
      // The category shows as the picker under the controls, unless no rule names any.
      ticket.category && !state.categories.length ? h('span', { class: 'badge' }, ticket.category) : null,
      h('span', { id: 'presence', class: 'presence', role: 'status', hidden: true })),
    h('div', { class: 'controls' },
      select('Status', ticket.status,
        ['new', 'open', 'pending', 'resolved', 'closed', 'filtered'].map((s) => [s, s]),
        (status) => patch({ status })),
      select('Priority', ticket.priority,
        ['low', 'normal', 'high', 'urgent'].map((p) => [p, p]),
        (priority) => patch({ priority })),
      select('Assignee', ticket.assignee || '', assignees,
        (assignee) => patch({ assignee: assignee || null }))),
    helpdesk.ticketFacts(ticket, state.categories, patch, readOnly()));
}

function contactCard(contact) {
  return h('details', { class: 'contact' },
    h('summary', {}, contact.name || 'Unnamed contact', ' · ',
      contact.identities.length + (contact.identities.length === 1 ? ' identity' : ' identities')),
    h('ul', {}, contact.identities.map((identity) =>
      h('li', {},
        h('span', { class: 'badge' }, identity.kind), ' ', identity.address,
        identity.display_name ? ' (' + identity.display_name + ')' : '',
        identity.unreachable.map((u) =>
          h('span', { class: 'error' }, ' unreachable on ' + u.channel + ': ' + u.reason))))));
}

function messageItem(message, fresh) {
  const kind = message.direction; // inbound, outbound, note
  return h('li', { class: 'message ' + kind + (fresh ? ' fresh' : ''), dataset: { id: message.id } },
    h('div', { class: 'meta' },
      h('strong', {}, message.author || (kind === 'inbound' ? 'Customer' : 'Agent')),
      kind === 'note' ? h('span', { class: 'badge note-badge' }, 'Internal note') : null,
      h('span', { class: 'badge channel' }, message.channel),
      when(message.created_at),
      message.automatic ? h('span', { class: 'badge' }, 'automatic') : null,
      message.edited_at ? h('span', { class: 'badge', title: 'Edited by the customer' }, 'edited') : null,
      kind === 'outbound' ? delivery(message) : null),
    message.subject && kind === 'inbound' ? h('div', { class: 'msg-subject' }, message.subject) : null,
    h('div', { class: 'text' }, message.text),
    message.html ? formatted(message) : null,
    message.edits.length ? h('details', { class: 'edits' },
      h('summary', {}, 'Earlier versions'),
      message.edits.map((edit) => h('p', {}, when(edit.edited_at), ' ', edit.previous_text))) : null,
    message.attachments.length ? h('ul', { class: 'attachments' }, message.attachments.map(attachment)) : null);
}

function delivery(message) {
  const status = message.delivery_status;
  return h('span', { class: 'delivery delivery-' + status },
    status,
    message.failure_reason ? h('span', { class: 'failure' }, ': ' + message.failure_reason) : null,
    message.segments ? ' · ' + message.segments + ' SMS' : null,
    status === 'failed' && state.me.role === 'admin'
      ? h('button', { type: 'button', class: 'link retry', onclick: () => sendAgain(message) }, 'Send again') : null);
}

// Admin: a failed reply goes out again, e.g. once the channel's config is fixed.
function sendAgain(message) {
  api.retry(message.id).then(() => loadTicket(state.selected)).catch((error) => flash(error.message));
}

// --- admin: the channels ---------------------------------------------------------

$('channels-button').addEventListener('click', async () => {
  try {
    const channels = await api.channels();
    replace($('channels-body'), channels.map((c) => h('tr', {},
      h('td', {}, c.id), h('td', {}, c.kind), h('td', {}, c.enabled ? 'on' : 'off'),
      h('td', {}, String(c.outbox_depth)),
      h('td', { class: c.problem ? 'problem' : 'muted' }, c.problem ? c.problem.message : 'working'))));
    $('channels').showModal();
  } catch (error) {
    flash(error.message);
  }
});

// Mail as it was formatted, sanitized by the gateway when it arrived, in a frame of
// its own that may not run script nor reach this page, under a policy that loads
// nothing from outside.
function formatted(message) {
  const details = h('details', { class: 'formatted' }, h('summary', {}, 'Formatted mail'));
  details.addEventListener('toggle', () => {
    if (details.open && !details.querySelector('iframe')) {
      details.append(h('iframe', { sandbox: '', src: api.mailBodyUrl(message.id), title: 'Formatted mail', referrerpolicy: 'no-referrer' }));
    }
  });
  return details;
}

function attachment(file) {
  const url = api.attachmentUrl(file.id);
  const label = file.filename + ' · ' + bytes(file.size);
  if (/^image\/(png|jpeg|gif|webp)$/.test(file.content_type)) {
    return h('li', {}, h('a', { href: url, target: '_blank', rel: 'noopener' },
      h('img', { src: url, alt: file.filename, loading: 'lazy' })), h('span', { class: 'muted' }, label));
  }
  return h('li', {}, h('a', { href: url, download: file.filename }, '⬇ ', label));
}

// The collision guard in the page: what others wrote since this agent read the
// ticket, before anything goes out. `retry` (after a held reply) sends it anyway.
function changedBanner(changes, retry) {
  const who = (m) => (m.direction === 'inbound' ? (m.author || 'The customer') : m.author) +
    (m.direction === 'inbound' ? ' wrote' : ' replied');
  const acknowledge = () => {
    state.seenId = Math.max(state.seenId, ...changes.map((m) => m.id));
    if (retry) retry();
    else renderTicket(state.detail, false);
  };
  return h('div', { class: 'changed', id: 'changed', role: 'alert' },
    h('strong', {}, retry ? 'Not sent yet: the conversation moved on.' : 'New since you opened this ticket:'),
    h('ul', {}, changes.map((m) => h('li', {}, who(m), ' ', when(m.created_at), ': ',
      h('q', {}, m.text.length > 140 ? m.text.slice(0, 140) + '…' : m.text)))),
    h('div', { class: 'changed-actions' },
      retry ? h('button', { type: 'button', id: 'send-anyway', onclick: acknowledge }, 'Send anyway') : null,
      h('button', { type: 'button', class: 'secondary', id: 'mark-read', onclick: () => {
        state.seenId = Math.max(state.seenId, ...changes.map((m) => m.id));
        renderTicket(state.detail, false);
      } }, retry ? 'Review first' : 'Mark as read')));
}

function address(reply, contact) {
  if (!reply.recipient) return 'the customer';
  // A web chat visitor's address is a session key: their name says more.
  if (reply.recipient.kind === 'webchat') return (contact && contact.name) || 'the visitor';
  return reply.recipient.address;
}

function replyBox(ticket, contact, reply) {
  const refused = reply.refused;
  // The outcome of the last send stays through re-renders (a delivery update, say).
  const notice = state.notice || (refused ? { error: true, text: 'A reply cannot be sent now: ' + refused } : null);
  const status = h('p', { id: 'reply-status', class: notice && notice.error ? 'error' : 'muted', role: 'status' },
    notice ? notice.text : '');
  const files = h('span', { class: 'muted', id: 'reply-files' }, fileSummary());
  const picker = h('input', { type: 'file', multiple: true, id: 'reply-attach', 'aria-label': 'Attach files',
    onchange: async (e) => { state.files = await readFiles(e.target.files); files.textContent = fileSummary(); } });
  return h('form', { class: 'reply', id: 'reply-form', onsubmit: (e) => { e.preventDefault(); send('reply'); } },
    h('div', { class: 'reply-to' }, 'Reply on ', h('strong', {}, reply.channel), ' to ', h('strong', {}, address(reply, contact))),
    helpdesk.suggestions(ticket.reference, () => $('reply-text')),
    h('textarea', { id: 'reply-text', rows: 4, placeholder: 'Write a reply (r); Ctrl+Enter sends, Ctrl+Shift+Enter saves a note' }),
    status,
    h('div', { class: 'reply-actions' },
      helpdesk.cannedPicker(ticket.reference, () => $('reply-text')),
      picker, files,
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'secondary', id: 'note-button', onclick: () => send('note') }, 'Add note'),
      h('button', { type: 'submit', id: 'reply-button', disabled: Boolean(refused) }, 'Send reply')));
}

function fileSummary() {
  return state.files.length ? state.files.map((f) => f.filename).join(', ') : '';
}

function readFiles(list) {
  return Promise.all([...list].map((file) => new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({
      filename: file.name,
      content_type: file.type || 'application/octet-stream',
      data: String(reader.result).split(',')[1] || '',
    });
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  })));
}

let sending = false;
function notify(notice) {
  state.notice = notice;
  const status = $('reply-status');
  status.className = notice.error ? 'error' : 'muted';
  status.textContent = notice.text;
}

async function send(kind) {
  const box = $('reply-text');
  const text = box.value;
  if (sending || (!text.trim() && !(kind === 'reply' && state.files.length))) return;
  sending = true;
  const reference = state.selected;
  try {
    if (kind === 'reply') {
      const queued = await api.reply(reference, text, state.files, state.seenId);
      state.seenId = Math.max(state.seenId, queued.message_id);
    } else {
      await api.note(reference, text);
    }
    box.value = '';
    state.files = [];
    typingUntil = 0;
    report('viewing', reference);
    notify({ text: kind === 'reply' ? 'Reply queued.' : 'Note saved.' });
    await loadTicket(reference);
  } catch (error) {
    // The draft stays; the reason shows where the agent is looking.
    if (error.code === 'changed') {
      sending = false;
      await loadTicket(reference);
      const banner = $('changed');
      if (banner) banner.replaceWith(changedBanner(error.details.changes, () => send(kind)));
      return;
    }
    notify({ error: true, text: (error.code === 'reply_refused' ? 'Not sent: ' : '') + error.message });
  } finally {
    sending = false;
  }
}

// --- messages and keys ----------------------------------------------------------

function flash(message) {
  const status = $('connection');
  status.title = message;
  const note = h('div', { class: 'flash error', role: 'alert' }, message);
  document.body.append(note);
  setTimeout(() => note.remove(), 6000);
}

function move(step) {
  const index = state.tickets.findIndex((t) => t.reference === state.selected);
  const next = state.tickets[Math.max(0, Math.min(state.tickets.length - 1, index + step))];
  if (next) openTicket(next.reference);
}

document.addEventListener('keydown', (event) => {
  const typing = event.target.closest('input, textarea, select');
  if (event.target.id === 'reply-text' && event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    send(event.shiftKey ? 'note' : 'reply');
    return;
  }
  if (event.key === 'Escape' && typing) { event.target.blur(); return; }
  if (typing || event.ctrlKey || event.metaKey || event.altKey || $('inbox').hidden) return;
  const actions = {
    j: () => move(1),
    k: () => move(-1),
    '/': () => $('search').focus(),
    r: () => $('reply-text') && $('reply-text').focus(),
    e: () => state.detail && api.updateTicket(state.selected, { status: 'resolved' })
      .then(() => loadTicket(state.selected)).catch((error) => flash(error.message)),
    '?': () => $('help').showModal(),
  };
  if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
});
$('help-button').addEventListener('click', () => $('help').showModal());

window.addEventListener('hashchange', () => {
  const reference = location.hash.slice(1);
  if (reference && !$('inbox').hidden) openTicket(reference);
});

boot().then(() => {
  const reference = location.hash.slice(1);
  if (reference && state.me) openTicket(reference);
});
