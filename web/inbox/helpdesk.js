// The helpdesk rules as agents see them: service-level targets counting down, the
// ticket's category, team and language, a warning when the customer sent a secret,
// canned replies and knowledge-base articles to put in the reply.

import * as api from './api.js';
import { h, replace } from './dom.js';

const TARGETS = { first_response: 'First reply', next_response: 'Next reply', resolution: 'Resolution' };
const SECRETS = {
  seed_phrase: 'a seed phrase', private_key: 'a private key', api_key: 'an API key',
  card_number: 'a card number', password: 'a password',
};
const languageNames = (() => {
  try { return new Intl.DisplayNames(undefined, { type: 'language' }); } catch { return null; }
})();
export const languageName = (code) => (languageNames && languageNames.of(code)) || code;

// "12 min", "3 h 5 min", "2 d 4 h": how far `ms` is, to the unit that matters.
function span(ms) {
  const minutes = Math.max(1, Math.round(Math.abs(ms) / 60_000));
  if (minutes < 60) return minutes + ' min';
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return hours + ' h' + (minutes % 60 ? ' ' + (minutes % 60) + ' min' : '');
  return Math.floor(hours / 24) + ' d' + (hours % 24 ? ' ' + (hours % 24) + ' h' : '');
}

// The target still to meet that falls due first; a breached one counts until met.
export function pressingSla(ticket) {
  const open = (ticket.sla || []).filter((s) => !s.met_at && (s.due_at || s.state === 'paused'));
  if (!open.length) return null;
  const due = (s) => (s.due_at ? Date.parse(s.due_at) : Infinity);
  return open.reduce((first, s) => (due(s) < due(first) ? s : first));
}

// One target, painted now and again by `refreshSla` as time passes.
export function slaBadge(sla, long = false) {
  const badge = h('span', {
    class: 'badge sla',
    dataset: { sla: sla.state, due: sla.due_at || '', risk: sla.at_risk_at || '', target: sla.target, long: long ? '1' : '' },
    title: (TARGETS[sla.target] || sla.target) + ' target of ' + span(sla.target_minutes * 60_000) +
      ' in business time (policy ' + sla.policy + ')',
  });
  paint(badge, Date.now());
  return badge;
}

function paint(badge, now) {
  const { sla: state, due, risk, target, long } = badge.dataset;
  const name = long ? (TARGETS[target] || target) + ' ' : (target === 'resolution' ? 'resolve ' : 'reply ');
  let level = 'ok';
  let text;
  if (state === 'paused') {
    text = name + 'paused';
    level = 'paused';
  } else {
    const left = Date.parse(due) - now;
    if (state === 'breached' || left <= 0) {
      level = 'breached';
      text = name + span(left) + ' overdue';
    } else {
      if (risk && Date.parse(risk) <= now) level = 'risk';
      text = name + 'in ' + span(left);
    }
  }
  badge.textContent = text;
  badge.classList.remove('sla-ok', 'sla-risk', 'sla-breached', 'sla-paused');
  badge.classList.add('sla-' + level);
}

export function refreshSla(root = document) {
  const now = Date.now();
  for (const badge of root.querySelectorAll('.sla[data-sla]')) paint(badge, now);
}

export function sensitiveBadge(ticket) {
  if (!ticket.sensitive || !ticket.sensitive.length) return null;
  return h('span', { class: 'badge sensitive', title: 'The customer sent ' + secretList(ticket.sensitive) + '; it was removed' },
    '⚠ secret removed');
}

const secretList = (kinds) => kinds.map((k) => SECRETS[k] || k).join(', ');

// Above the conversation: what the guard removed, and what to tell the customer.
export function sensitiveBanner(ticket) {
  if (!ticket.sensitive || !ticket.sensitive.length) return null;
  return h('div', { class: 'sensitive-banner', role: 'note' },
    h('strong', {}, 'The customer sent ' + secretList(ticket.sensitive) + '.'),
    ' It was removed before anything was stored, so no one here can see it. Never ask for it; ' +
      'if it was real, the customer should move their funds or change it now.');
}

// The ticket's helpdesk facts: category (agents may change it), team, language,
// the rule that triaged it, and every target with its due time.
export function ticketFacts(ticket, categories, patch, readOnly = false) {
  const options = [...new Set([...(categories || []), ...(ticket.category ? [ticket.category] : [])])].sort();
  const category = options.length
    ? h('label', { class: 'fact' }, 'Category ',
      h('select', { id: 'ticket-category', disabled: readOnly, onchange: (e) => patch({ category: e.target.value || null }) },
        h('option', { value: '' }, 'none'),
        options.map((c) => h('option', { value: c, selected: c === ticket.category }, c))))
    : null;
  const facts = [
    category,
    ticket.team ? h('span', { class: 'fact' }, 'Team ', h('strong', {}, ticket.team)) : null,
    ticket.language ? h('span', { class: 'fact', title: 'Detected from what the customer wrote' },
      'Language ', h('strong', {}, languageName(ticket.language))) : null,
    ticket.triage_rule ? h('span', { class: 'fact muted', title: 'The triage rule that set the category and priority' },
      'rule ', ticket.triage_rule) : null,
    (ticket.sla || []).map((s) => h('span', { class: 'fact' }, slaBadge(s, true),
      s.met_at ? ' met' : '',
      s.breached_at && s.met_at ? ' late' : '')),
  ].flat().filter(Boolean);
  return facts.length ? h('div', { class: 'facts', id: 'ticket-facts' }, facts) : null;
}

// Puts text into the reply box where the cursor is, replacing any selection, on a
// line of its own after what is written.
function insert(box, text) {
  const start = box.selectionStart ?? box.value.length;
  const end = box.selectionEnd ?? box.value.length;
  const glue = start > 0 && !/\s$/.test(box.value.slice(0, start)) ? '\n' : '';
  box.setRangeText(glue + text, start, end, 'end');
  box.focus();
  box.dispatchEvent(new Event('input'));
}

// Canned replies filled in for this ticket (its customer's name and language, the
// reference, this agent); the picker shows once there are any.
export function cannedPicker(reference, box) {
  const select = h('select', { id: 'canned', 'aria-label': 'Canned reply', hidden: true },
    h('option', { value: '' }, 'Canned reply…'));
  let replies = [];
  api.canned(reference).then((list) => {
    replies = list;
    select.append(...list.map((r, i) => h('option', { value: String(i), title: r.text }, r.title + ' (' + r.language + ')')));
    select.hidden = list.length === 0;
  }).catch(() => {});
  select.addEventListener('change', () => {
    const reply = replies[Number(select.value)];
    if (reply) insert(box(), reply.text);
    select.value = '';
  });
  return select;
}

// Knowledge-base articles that fit what the customer wrote, best first.
export function suggestions(reference, box) {
  const list = h('ul', { class: 'suggestions', id: 'suggestions' });
  const panel = h('details', { class: 'suggestions-panel', hidden: true },
    h('summary', {}, 'Suggested articles'), list);
  api.suggestions(reference).then(({ suggestions: articles }) => {
    if (!articles.length) return;
    replace(list, articles.map((a) => h('li', {},
      a.url ? h('a', { href: a.url, target: '_blank', rel: 'noopener noreferrer' }, a.title) : h('strong', {}, a.title),
      ' ', h('span', { class: 'badge' }, a.language),
      h('p', { class: 'muted' }, a.excerpt),
      h('button', { type: 'button', class: 'link', onclick: () => insert(box(), a.title + '\n' + (a.url || a.excerpt)) },
        'Put in reply'))));
    panel.querySelector('summary').textContent = 'Suggested articles (' + articles.length + ')';
    panel.hidden = false;
  }).catch(() => {});
  return panel;
}
