// Switchboard web chat widget. One script tag on the site:
//   <script src="https://support.example.com/webchat/CHANNEL/widget.js" async></script>
// Optional attributes on that tag: data-language (en, ms, zh), and for a signed-in
// user data-user-id, data-user-signature (hex HMAC-SHA256 of the id with the
// channel's identity_secret, computed by the site's server), data-user-name,
// data-user-email.
//
// Everything lives in a shadow root, styles in a constructed sheet (no inline
// style or script, so a strict CSP on the site holds); text is only ever set as
// text, never parsed as HTML. The protocol is in the book's web chat chapter.
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script || window.__switchboardChat) return;
  window.__switchboardChat = true;
  const src = new URL(script.src);
  const base = src.href.replace(/widget\.js(\?.*)?$/, '');
  const channel = decodeURIComponent(src.pathname.split('/').slice(-2)[0]);
  const attr = (name) => script.getAttribute('data-' + name) || undefined;
  const storeKey = 'switchboard-chat:' + base;

  const STRINGS = {
    en: {
      open: 'Chat with us', close: 'Close chat', online: 'We are online',
      offline: 'We are away', closed: 'We are closed', away: 'Nobody is online right now.', opensAt: 'We open again', stop: '.',
      leaveEmail: 'Leave a message and your email address: we will answer by email.',
      leaveChat: 'Leave a message: we will answer here as soon as we can.', byEmail: 'We will answer by email at',
      placeholder: 'Write a message…', send: 'Send', attach: 'Attach a file',
      name: 'Your name', email: 'Your email', topic: 'Topic', start: 'Start chat',
      required: 'Please fill in', typing: 'is typing…', you: 'You', sending: 'Sending…',
      failed: 'Not sent yet: it will be sent when the connection is back.',
      reconnecting: 'Reconnecting…', older: 'Show earlier messages', reference: 'Your reference:',
      tooLarge: 'That file is too large.', badType: 'That kind of file cannot be sent here.',
      error: 'Something went wrong:', expired: 'Your earlier chat has ended; this is a new one.',
      agent: 'Support',
    },
    ms: {
      open: 'Sembang dengan kami', close: 'Tutup sembang', online: 'Kami dalam talian',
      offline: 'Kami tiada', closed: 'Kami sudah tutup', away: 'Tiada sesiapa dalam talian sekarang.', opensAt: 'Kami dibuka semula', stop: '.',
      leaveEmail: 'Tinggalkan mesej dan alamat e-mel anda: kami akan menjawab melalui e-mel.',
      leaveChat: 'Tinggalkan mesej: kami akan menjawab di sini secepat mungkin.', byEmail: 'Kami akan menjawab melalui e-mel ke',
      placeholder: 'Tulis mesej…', send: 'Hantar', attach: 'Lampirkan fail',
      name: 'Nama anda', email: 'E-mel anda', topic: 'Topik', start: 'Mula sembang',
      required: 'Sila isi', typing: 'sedang menaip…', you: 'Anda', sending: 'Menghantar…',
      failed: 'Belum dihantar: akan dihantar apabila sambungan pulih.',
      reconnecting: 'Menyambung semula…', older: 'Tunjuk mesej terdahulu', reference: 'Rujukan anda:',
      tooLarge: 'Fail itu terlalu besar.', badType: 'Jenis fail itu tidak boleh dihantar di sini.',
      error: 'Ada masalah:', expired: 'Sembang anda yang lalu telah tamat; ini sembang baharu.',
      agent: 'Sokongan',
    },
    zh: {
      open: '联系我们', close: '关闭对话', online: '客服在线',
      offline: '客服暂时离开', closed: '现在是非营业时间', away: '现在没有客服在线。', opensAt: '恢复服务时间：', stop: '。',
      leaveEmail: '请留言并留下电子邮箱，我们会通过邮件回复您。',
      leaveChat: '请留言，我们会尽快在这里回复您。', byEmail: '我们会通过邮件回复至',
      placeholder: '输入消息…', send: '发送', attach: '添加文件',
      name: '您的姓名', email: '您的邮箱', topic: '主题', start: '开始对话',
      required: '请填写', typing: '正在输入…', you: '您', sending: '发送中…',
      failed: '尚未发送：连接恢复后会自动发送。',
      reconnecting: '正在重新连接…', older: '显示更早的消息', reference: '您的工单号：',
      tooLarge: '文件太大。', badType: '不能发送这种类型的文件。',
      error: '出错了：', expired: '您之前的对话已结束，这是新的对话。',
      agent: '客服',
    },
  };
  const pickLanguage = (wanted) => {
    for (const tag of wanted) {
      const lang = (tag || '').toLowerCase().split('-')[0];
      if (STRINGS[lang]) return lang;
    }
    return null;
  };
  let lang = pickLanguage([attr('language'), document.documentElement.lang, ...(navigator.languages || [navigator.language])]);
  const t = (key) => STRINGS[lang || 'en'][key];

  // What survives a reload: the session, the last number seen, unsent messages.
  const load = () => { try { return JSON.parse(localStorage.getItem(storeKey)) || {}; } catch { return {}; } };
  const saved = load();
  const state = {
    token: saved.token || null,
    lastSeq: saved.lastSeq || 0,
    pending: saved.pending || [],
    open: !!saved.open,
    welcome: null,
    socket: null,
    backoff: 500,
    lastHeard: 0,
    seen: new Set(),
    oldest: null,
    unread: 0,
    readSent: 0,
    typingSent: 0,
    typingTimer: null,
    agentTypingTimer: null,
    uploads: [],
  };
  const persist = () => {
    try {
      localStorage.setItem(storeKey, JSON.stringify({
        token: state.token, lastSeq: state.lastSeq, pending: state.pending, open: state.open,
      }));
    } catch { /* private mode: the chat works, it just forgets on reload */ }
  };

  // ---- DOM ----
  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  };
  const host = el('div', { id: 'switchboard-chat' });
  const root = host.attachShadow({ mode: 'open' });
  const CSS = `
:host{all:initial}
[hidden]{display:none!important}
*{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",sans-serif}
.launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;background:#1f5fd6;color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000;display:flex;align-items:center;justify-content:center}
.launcher svg{width:26px;height:26px;fill:currentColor}
.badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;border-radius:10px;background:#d93025;color:#fff;font-size:12px;line-height:20px;text-align:center;padding:0 5px}
.panel{position:fixed;right:20px;bottom:88px;width:370px;height:min(600px,calc(100vh - 110px));background:#fff;color:#1b1f24;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden;z-index:2147483000;font-size:14px}
header{background:#1f5fd6;color:#fff;padding:12px 14px;display:flex;align-items:center;gap:10px}
header h2{font-size:16px;margin:0;flex:1;font-weight:600}
.status{font-size:12px;opacity:.9;display:flex;align-items:center;gap:5px}
.dot{width:8px;height:8px;border-radius:50%;background:#9aa0a6}
.dot.on{background:#3ddc84}
.x{background:none;border:0;color:#fff;font-size:22px;cursor:pointer;padding:4px 8px;line-height:1}
.notice{background:#fff4ce;color:#5c4500;padding:8px 12px;font-size:13px}
.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9;overscroll-behavior:contain}
.older{align-self:center;background:none;border:1px solid #c9ced6;border-radius:12px;padding:4px 10px;font-size:12px;cursor:pointer;color:#3c4043}
.row{display:flex;gap:8px;align-items:flex-end;max-width:85%}
.row.customer{align-self:flex-end;flex-direction:row-reverse}
.avatar{flex:none;width:28px;height:28px;border-radius:50%;background:#e3e8f4;color:#1f5fd6;font-size:12px;font-weight:600;display:flex;align-items:center;justify-content:center}
.bubble{padding:8px 11px;border-radius:14px;background:#fff;border:1px solid #e1e4e8;white-space:pre-wrap;overflow-wrap:anywhere;line-height:1.4}
.customer .bubble{background:#1f5fd6;color:#fff;border-color:#1f5fd6}
.customer .bubble a{color:#fff}
.meta{font-size:11px;color:#6b7280;margin-top:3px}
.customer .meta{text-align:right}
.pending .bubble{opacity:.6}
.bubble img{display:block;max-width:100%;max-height:220px;border-radius:8px;margin-top:4px}
.file{display:block;margin-top:4px}
.typing{font-size:12px;color:#6b7280;padding:0 14px 6px;min-height:18px;background:#f6f7f9}
form.compose{display:flex;gap:6px;padding:8px;border-top:1px solid #e1e4e8;align-items:flex-end;background:#fff}
textarea{flex:1;resize:none;border:1px solid #c9ced6;border-radius:10px;padding:8px 10px;font-size:16px;max-height:120px;min-height:40px;line-height:1.3;color:inherit;background:#fff}
.icon{flex:none;width:40px;height:40px;border-radius:10px;border:0;cursor:pointer;display:flex;align-items:center;justify-content:center;background:#eef1f6;color:#3c4043}
.icon svg{width:20px;height:20px;fill:currentColor}
.icon.send{background:#1f5fd6;color:#fff}
.chips{display:flex;flex-wrap:wrap;gap:6px;padding:0 8px}
.chip{font-size:12px;background:#eef1f6;border-radius:10px;padding:3px 8px}
form.prechat{padding:14px;display:flex;flex-direction:column;gap:10px;overflow-y:auto}
form.prechat label{display:flex;flex-direction:column;gap:4px;font-size:13px;color:#3c4043}
form.prechat input,form.prechat select{font-size:16px;padding:8px 10px;border:1px solid #c9ced6;border-radius:8px;background:#fff;color:inherit}
form.prechat button{background:#1f5fd6;color:#fff;border:0;border-radius:8px;padding:10px;font-size:15px;cursor:pointer}
.err{color:#b3261e;font-size:12px;padding:0 12px 6px}
.err:empty{display:none}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:var(--vh,100vh);border-radius:0}.launcher.hide{display:none}}
`;
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch {
    root.append(el('style', { text: CSS }));
  }
  const icon = (path) => {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', path);
    svg.append(p);
    return svg;
  };
  const CHAT = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z';
  const SEND = 'M3 20l18-8L3 4v6l12 2-12 2z';
  const CLIP = 'M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z';

  const badge = el('span', { class: 'badge', hidden: '' });
  const launcher = el('button', { class: 'launcher', type: 'button', 'aria-label': t('open'), onclick: () => toggle(!state.open) }, icon(CHAT), badge);
  const title = el('h2', { text: 'Support' });
  const dot = el('span', { class: 'dot' });
  const statusText = el('span');
  const closeButton = el('button', { class: 'x', type: 'button', 'aria-label': t('close'), text: '×', onclick: () => toggle(false) });
  const notice = el('div', { class: 'notice', hidden: '', role: 'status' });
  const log = el('div', { class: 'log', role: 'log', 'aria-live': 'polite' });
  const typing = el('div', { class: 'typing', 'aria-live': 'polite' });
  const errorLine = el('div', { class: 'err', role: 'alert' });
  const input = el('textarea', { rows: '1', placeholder: t('placeholder'), 'aria-label': t('placeholder'), maxlength: '4000' });
  const fileInput = el('input', { type: 'file', class: 'sr', tabindex: '-1', 'aria-hidden': 'true' });
  const attachButton = el('button', { class: 'icon', type: 'button', 'aria-label': t('attach'), onclick: () => fileInput.click() }, icon(CLIP));
  const sendButton = el('button', { class: 'icon send', type: 'submit', 'aria-label': t('send') }, icon(SEND));
  const chips = el('div', { class: 'chips' });
  const compose = el('form', { class: 'compose' }, fileInput, attachButton, input, sendButton);
  const prechat = el('form', { class: 'prechat', hidden: '' });
  const panel = el('section', { class: 'panel', hidden: '', role: 'dialog', 'aria-label': 'Support' },
    el('header', {}, title, el('div', { class: 'status' }, dot, statusText), closeButton),
    notice, prechat, log, typing, chips, errorLine, compose);
  root.append(launcher, panel);
  const mount = () => document.body.append(host);
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);

  // The on-screen keyboard shrinks the visual viewport, not the layout one: size the
  // full-screen panel to what is visible so the composer stays above the keyboard.
  const fitViewport = () => {
    if (window.visualViewport) panel.style.setProperty('--vh', window.visualViewport.height + 'px');
  };
  if (window.visualViewport) window.visualViewport.addEventListener('resize', fitViewport);

  const toggle = (open) => {
    state.open = open;
    panel.hidden = !open;
    launcher.classList.toggle('hide', open);
    persist();
    if (open) {
      fitViewport();
      state.unread = 0;
      showBadge();
      sendRead();
      (prechat.hidden ? input : prechat.querySelector('input,select') || input).focus();
      scrollDown();
    }
  };
  const showBadge = () => {
    badge.hidden = state.unread === 0;
    badge.textContent = String(state.unread);
  };
  const scrollDown = () => { log.scrollTop = log.scrollHeight; };
  const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80;

  // Text with its links made clickable: built from text nodes and anchors only.
  const linkify = (text) => {
    const out = document.createDocumentFragment();
    const pattern = /\bhttps?:\/\/[^\s<>"']+/g;
    let at = 0;
    for (const match of text.matchAll(pattern)) {
      let url = match[0].replace(/[.,;:!?)\]]+$/, '');
      out.append(text.slice(at, match.index));
      out.append(el('a', { href: url, target: '_blank', rel: 'noopener noreferrer nofollow', text: url }));
      at = match.index + url.length;
    }
    out.append(text.slice(at));
    return out;
  };
  const time = (ms) => new Date(ms).toLocaleTimeString(lang || undefined, { hour: '2-digit', minute: '2-digit' });
  const fileNode = (file) => {
    const href = new URL(file.url, base).href;
    if (/^image\/(png|jpeg|gif|webp)$/.test(file.type)) {
      return el('a', { href, target: '_blank', rel: 'noopener noreferrer', class: 'file' }, el('img', { src: href, alt: file.name }));
    }
    return el('a', { href, class: 'file', rel: 'noopener noreferrer', download: file.name, text: '📎 ' + file.name });
  };
  const bubble = (message, pending) => {
    const customer = message.from === 'customer';
    const content = el('div', { class: 'bubble' }, linkify(message.text || ''));
    for (const file of message.attachments || []) content.append(fileNode(file));
    const who = customer ? t('you') : (message.agent && message.agent.name) || t('agent');
    const body = el('div', {}, content, el('div', { class: 'meta', text: pending ? t('sending') : who + ' · ' + time(message.at || Date.now()) }));
    const row = el('div', { class: 'row ' + (customer ? 'customer' : 'agent') + (pending ? ' pending' : '') });
    if (!customer) row.append(el('div', { class: 'avatar', 'aria-hidden': 'true', text: (message.agent && message.agent.initials) || '•' }));
    row.append(body);
    if (message.seq) row.dataset.seq = message.seq;
    if (message.client_id) row.dataset.client = message.client_id;
    return row;
  };

  // ---- messages in, in order ----
  const show = (message, { prepend = false } = {}) => {
    if (state.seen.has(message.seq)) return;
    state.seen.add(message.seq);
    if (message.client_id) {
      const mine = log.querySelector(`[data-client="${CSS_ESCAPE(message.client_id)}"].pending`);
      if (mine) mine.remove();
    }
    const stick = nearBottom();
    const row = bubble(message, false);
    if (prepend) {
      const first = [...log.querySelectorAll('[data-seq]')].find((r) => +r.dataset.seq > message.seq);
      log.insertBefore(row, first || pendingAnchor());
    } else {
      log.insertBefore(row, pendingAnchor());
      if (stick || message.from === 'customer') scrollDown();
    }
    if (message.seq > state.lastSeq) { state.lastSeq = message.seq; persist(); }
    if (state.oldest === null || message.seq < state.oldest) state.oldest = message.seq;
    if (message.from === 'agent' && !prepend) {
      send({ type: 'received', seq: message.seq });
      hideTyping();
      if (!state.open || document.hidden) { state.unread += 1; showBadge(); }
    }
    sendRead();
  };
  const CSS_ESCAPE = (s) => (window.CSS && CSS.escape ? CSS.escape(s) : s.replace(/[^\w-]/g, ''));
  const pendingAnchor = () => log.querySelector('.pending');
  const sendRead = () => {
    if (state.open && !document.hidden && state.lastSeq > state.readSent && state.socket && state.socket.readyState === 1) {
      state.readSent = state.lastSeq;
      send({ type: 'read', seq: state.lastSeq });
    }
  };
  const olderButton = el('button', { class: 'older', type: 'button', text: t('older'), onclick: () => send({ type: 'history', before: state.oldest || 1 }) });
  const showHistory = (frame) => {
    if (frame.reset) {
      for (const row of log.querySelectorAll('[data-seq]')) row.remove();
      state.seen.clear();
      state.oldest = null;
    }
    const stick = !frame.reset && state.oldest !== null;
    for (const message of frame.messages) show(message, { prepend: stick });
    if (frame.more) log.prepend(olderButton); else olderButton.remove();
    if (!stick) scrollDown();
  };

  // ---- the socket ----
  const send = (frame) => {
    if (state.socket && state.socket.readyState === 1) {
      state.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  };
  const wsUrl = base.replace(/^http/, 'ws') + 'ws';
  let heartbeat = null;
  const connect = () => {
    if (state.socket && state.socket.readyState <= 1) return;
    const socket = new WebSocket(wsUrl);
    state.socket = socket;
    socket.onopen = () => {
      const hello = { type: 'hello' };
      if (state.token) hello.token = state.token;
      if (state.lastSeq > 0 && state.seen.size > 0) hello.last_seq = state.lastSeq;
      const userId = attr('user-id');
      if (userId) {
        hello.identity = { user_id: userId, signature: attr('user-signature') || '' };
        if (attr('user-name')) hello.identity.name = attr('user-name');
        if (attr('user-email')) hello.identity.email = attr('user-email');
      }
      socket.send(JSON.stringify(hello));
      state.lastHeard = Date.now();
    };
    socket.onmessage = (event) => {
      state.lastHeard = Date.now();
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      handle(frame);
    };
    socket.onclose = () => {
      if (state.socket !== socket) return;
      state.socket = null;
      setStatus();
      const wait = state.backoff * (0.75 + Math.random() * 0.5);
      state.backoff = Math.min(state.backoff * 2, 15000);
      clearTimeout(state.retry);
      state.retry = setTimeout(connect, wait);
    };
    clearInterval(heartbeat);
    // Phones and proxies drop idle sockets without telling: ping, and start over
    // when nothing (not even the pong) came back in time.
    heartbeat = setInterval(() => {
      if (state.socket !== socket || socket.readyState !== 1) return;
      if (Date.now() - state.lastHeard > 45000) { drop(); return; }
      send({ type: 'ping' });
    }, 20000);
  };
  const drop = () => {
    const socket = state.socket;
    if (!socket) return;
    socket.onclose = null;
    state.socket = null;
    try { socket.close(); } catch { /* already gone */ }
    setStatus();
    connect();
  };
  // Back in view (phone unlocked, tab shown, network changed, page restored from the
  // back-forward cache): a socket may have died silently while away, so check it
  // at once instead of waiting for the next heartbeat.
  const check = () => {
    sendRead();
    if (!state.socket || state.socket.readyState > 1) {
      clearTimeout(state.retry);
      state.backoff = 500;
      connect();
      return;
    }
    const asked = Date.now();
    send({ type: 'ping' });
    setTimeout(() => { if (state.lastHeard < asked) drop(); }, 3000);
  };
  document.addEventListener('visibilitychange', () => { if (!document.hidden) check(); });
  window.addEventListener('online', check);
  window.addEventListener('pageshow', (event) => { if (event.persisted) check(); });
  window.addEventListener('focus', check);

  // Someone may answer now: an agent at work, within the chat's hours.
  const answering = (w) => w.agents_online && w.open;
  const setStatus = () => {
    const w = state.welcome;
    const connected = state.socket && state.socket.readyState === 1 && w;
    const online = connected && answering(w);
    dot.classList.toggle('on', !!online);
    statusText.textContent = !connected ? t('reconnecting') : online ? t('online') : w.open ? t('offline') : t('closed');
    const away = connected && !online;
    notice.hidden = !away;
    if (!away) return;
    const opens = !w.open && w.opens_at
      ? t('opensAt') + ' ' + new Date(w.opens_at).toLocaleString(lang || undefined, { weekday: 'long', hour: '2-digit', minute: '2-digit' }) + t('stop')
      : t('away');
    notice.textContent = opens + ' ' + t(w.continues_by_email ? 'leaveEmail' : 'leaveChat');
  };

  const handle = (frame) => {
    switch (frame.type) {
      case 'welcome': {
        state.welcome = frame;
        state.backoff = 500;
        state.token = frame.token;
        if (!lang && STRINGS[frame.language]) { lang = frame.language; }
        if (frame.last_seq < state.lastSeq) {
          // Not the conversation the numbers belong to (a new session): start over.
          for (const row of log.querySelectorAll('[data-seq]')) row.remove();
          state.seen.clear();
          state.oldest = null;
          state.lastSeq = 0;
          state.readSent = 0;
        }
        persist();
        title.textContent = frame.title;
        panel.setAttribute('aria-label', frame.title);
        input.maxLength = frame.max_message_chars;
        setStatus();
        renderPrechat();
        resendPending();
        break;
      }
      case 'message':
        show(frame);
        break;
      case 'history':
        showHistory(frame);
        break;
      case 'ack': {
        if (frame.token) { state.token = frame.token; }
        state.pending = state.pending.filter((p) => p.id !== frame.id);
        persist();
        if (frame.reference && !state.reference) {
          state.reference = frame.reference;
          chips.replaceChildren(el('span', { class: 'chip', text: t('reference') + ' ' + frame.reference }));
        }
        if (frame.by_email && !state.byEmail) {
          state.byEmail = frame.by_email;
          chips.append(el('span', { class: 'chip', text: t('byEmail') + ' ' + frame.by_email }));
        }
        break;
      }
      case 'typing':
        if (frame.on) {
          typing.textContent = ((frame.agent && frame.agent.name) || t('agent')) + ' ' + t('typing');
          clearTimeout(state.agentTypingTimer);
          state.agentTypingTimer = setTimeout(hideTyping, 10000);
        } else hideTyping();
        break;
      case 'status':
        if (state.welcome) Object.assign(state.welcome, { agents_online: frame.agents_online, open: frame.open, opens_at: frame.opens_at });
        setStatus();
        break;
      case 'error':
        onError(frame);
        break;
      default:
        break; // pong, and frames of later versions
    }
  };
  const hideTyping = () => { typing.textContent = ''; };
  const onError = (frame) => {
    if (frame.code === 'session_expired' || frame.code === 'invalid_token') {
      state.token = null;
      state.lastSeq = 0;
      state.pending = [];
      persist();
      showError(t('expired'));
      return;
    }
    if (frame.id) {
      const pending = state.pending.find((p) => p.id === frame.id);
      if (frame.code === 'rate_limited' || frame.code === 'unavailable') {
        setTimeout(resendPending, frame.retry_after_ms || 2000);
        return;
      }
      // Refused for good: take it back into the box so nothing typed is lost.
      state.pending = state.pending.filter((p) => p.id !== frame.id);
      persist();
      const row = log.querySelector(`[data-client="${CSS_ESCAPE(frame.id)}"]`);
      if (row) row.remove();
      if (pending && !input.value) input.value = pending.text;
      if (frame.code === 'missing_field') { state.formDone = false; renderPrechat(); }
    }
    showError(t('error') + ' ' + frame.message);
  };
  const showError = (text) => {
    errorLine.textContent = text;
    clearTimeout(state.errorTimer);
    state.errorTimer = setTimeout(() => { errorLine.textContent = ''; }, 8000);
  };

  // ---- writing ----
  const newId = () => {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  };
  const resendPending = () => {
    for (const pending of state.pending) {
      if (!log.querySelector(`[data-client="${CSS_ESCAPE(pending.id)}"]`)) {
        log.append(bubble({ from: 'customer', text: pending.text, client_id: pending.id, attachments: pending.files || [] }, true));
      }
      const frame = { type: 'message', id: pending.id, text: pending.text, attachments: pending.uploads || [] };
      if (pending.fields) frame.fields = pending.fields;
      send(frame);
    }
    scrollDown();
  };
  const submit = (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text && state.uploads.length === 0) return;
    const pending = { id: newId(), text, uploads: state.uploads.map((u) => u.upload), files: [] };
    if (state.fields) { pending.fields = state.fields; state.fields = null; }
    state.uploads = [];
    state.pending.push(pending);
    persist();
    input.value = '';
    chipsForUploads();
    log.append(bubble({ from: 'customer', text, client_id: pending.id }, true));
    scrollDown();
    const frame = { type: 'message', id: pending.id, text, attachments: pending.uploads };
    if (pending.fields) frame.fields = pending.fields;
    if (!send(frame)) showError(t('failed'));
    stopTyping();
    autosize();
  };
  compose.addEventListener('submit', submit);
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) submit(event);
  });
  const autosize = () => {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, 120) + 'px';
  };
  const stopTyping = () => {
    clearTimeout(state.typingTimer);
    if (state.typingSent) { state.typingSent = 0; send({ type: 'typing', on: false }); }
  };
  input.addEventListener('input', () => {
    autosize();
    const now = Date.now();
    if (now - state.typingSent > 3000) { state.typingSent = now; send({ type: 'typing', on: true }); }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, 4000);
  });

  const chipsForUploads = () => {
    chips.replaceChildren(...state.uploads.map((u) => el('span', { class: 'chip', text: '📎 ' + u.name })));
  };
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = '';
    if (!file || !state.welcome) return;
    const rules = state.welcome.uploads;
    if (file.size > rules.max_bytes) { showError(t('tooLarge')); return; }
    try {
      const response = await fetch(base + 'uploads', {
        method: 'POST',
        headers: { authorization: 'Bearer ' + state.token, 'content-type': file.type || 'application/octet-stream', 'x-filename': encodeURIComponent(file.name) },
        body: file,
      });
      const body = await response.json();
      if (!response.ok) {
        showError(response.status === 415 ? t('badType') : response.status === 413 ? t('tooLarge') : t('error') + ' ' + body.error.message);
        return;
      }
      state.uploads.push(body);
      chipsForUploads();
    } catch (error) {
      showError(t('error') + ' ' + error.message);
    }
  });

  // The pre-chat form, before a conversation's first message, asking what the
  // channel asks (and the email when nobody is online, to answer by email).
  const renderPrechat = () => {
    const w = state.welcome;
    const fields = [];
    const rule = (name) => w.pre_chat[name];
    const needEmail = w.continues_by_email && !answering(w) && !w.email;
    // A user the site signed in is known already.
    if (!w.started && !state.formDone && !w.identified) {
      if (rule('name') !== 'off' && !w.name) fields.push(['name', rule('name')]);
      if ((rule('email') !== 'off' || needEmail) && !w.email) fields.push(['email', rule('email') === 'off' ? 'optional' : rule('email')]);
      if (rule('topic') !== 'off') fields.push(['topic', rule('topic')]);
    }
    prechat.replaceChildren();
    prechat.hidden = fields.length === 0;
    compose.hidden = !prechat.hidden;
    if (prechat.hidden) return;
    for (const [name, how] of fields) {
      const required = how === 'required';
      let control;
      if (name === 'topic') {
        control = el('select', { name });
        control.append(el('option', { value: '', text: '—' }));
        for (const topic of w.pre_chat.topics) control.append(el('option', { value: topic, text: topic }));
      } else {
        control = el('input', { name, type: name === 'email' ? 'email' : 'text', autocomplete: name });
      }
      if (required) control.required = true;
      prechat.append(el('label', {}, t(name) + (required ? ' *' : ''), control));
    }
    prechat.append(el('button', { type: 'submit', text: t('start') }));
  };
  prechat.addEventListener('submit', (event) => {
    event.preventDefault();
    const fields = {};
    for (const control of prechat.querySelectorAll('input,select')) {
      if (control.value.trim()) fields[control.name] = control.value.trim();
    }
    state.fields = fields;
    state.formDone = true;
    prechat.hidden = true;
    compose.hidden = false;
    input.focus();
  });

  if (state.open) toggle(true);
  connect();
})();
