// What the browser tests stand on: the real gateway binary over a fresh SQLite store,
// a fake receiver of the API channel's reply callbacks that checks signatures, a
// loopback proxy between the browser and the gateway that can cut the connection,
// signed webhooks for every channel, and headless Chromium.
//
// SWITCHBOARD_BIN names the gateway binary (scripts/browser-test builds it);
// CHROMIUM names the browser (default /usr/bin/chromium); SCREENSHOT_DIR is where
// screenshots of the key steps go (default tests/browser/screenshots).

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const screenshotDir = process.env.SCREENSHOT_DIR || path.join(here, 'screenshots');

export const SECRETS = {
  api: 'browser-test-api-secret',
  telegram: 'browser_test_telegram_secret',
  whatsapp: 'browser-test-meta-app-secret',
  twilio: 'browser-test-twilio-auth-token',
  webchat: 'browser-test-webchat-secret',
  webchatIdentity: 'browser-test-webchat-identity-secret',
};
export const AGENTS = {
  ada: { name: 'Ada Admin', token: 'browser-admin-token-0123456789' },
  gus: { name: 'Gus Agent', token: 'browser-agent-token-0123456789' },
};
// The sample knowledge base the project ships.
export const KNOWLEDGE_DIR = path.join(here, '..', '..', 'config', 'knowledge');
export const OUR_NUMBER = '+15005550006';
const TWILIO_ACCOUNT = 'AC' + '0'.repeat(32);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitFor(what, check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const hmac = (algorithm, key, data, encoding) => createHmac(algorithm, key).update(data).digest(encoding);

// --- the reply callback receiver --------------------------------------------------

// Receives the API channel's replies like a careful integrator: a request without the
// right signature is refused and counted. `answers` scripts the next statuses.
export async function fakeCallback() {
  const received = [];
  const answers = [];
  let badSignatures = 0;
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const expected = 'sha256=' + hmac('sha256', SECRETS.api, body, 'hex');
      if (request.headers['x-switchboard-signature'] !== expected) {
        badSignatures += 1;
        response.writeHead(401).end('bad signature');
        return;
      }
      const [status, text] = answers.shift() || [200, null];
      received.push({ status, ...JSON.parse(body) });
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(text ?? JSON.stringify({ external_id: 'cb-' + received.length }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/replies`,
    received,
    delivered: () => received.filter((r) => r.status >= 200 && r.status < 300),
    answer: (status, text) => answers.push([status, text]),
    badSignatures: () => badSignatures,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

// A provider API that is down: the Telegram, WhatsApp and Twilio connectors only
// receive in these tests, and their calls out (getMe, media) get 503.
async function downProvider() {
  const server = http.createServer((request, response) => {
    request.resume();
    response.writeHead(503, { 'content-type': 'application/json' });
    response.end('{"ok":false,"error_code":503,"description":"down for the test"}');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

// --- the connection the browser uses -------------------------------------------

// A TCP proxy the browser talks through. `cut()` drops every connection and refuses
// new ones, like a closed laptop lid or a dead network; `restore()` lets them in.
async function proxyTo(port) {
  const sockets = new Set();
  const pairs = new Set();
  let open = true;
  const server = net.createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = net.connect(port, '127.0.0.1');
    const pair = [client, upstream];
    pairs.add(pair);
    client.on('close', () => pairs.delete(pair));
    for (const socket of pair) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        for (const other of pair) other.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    // The connections open now go silent both ways without closing, as a phone's
    // socket does when the phone sleeps; new connections work.
    freeze() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(resolve); }),
  };
}

// --- a customer's site ------------------------------------------------------------

// The company's website on another origin, embedding the chat with its one script
// tag under a strict policy of its own: scripts, sockets and images only from the
// gateway, no inline anything. `/?lang=ms&user=ID` sets the page's language and a
// signed-in user (signed as the site's server would).
async function startSite() {
  const site = { gateway: null };
  const server = http.createServer((request, response) => {
    const query = new URL(request.url, 'http://site').searchParams;
    const gateway = site.gateway;
    const socket = gateway.replace(/^http/, 'ws');
    let attributes = '';
    const user = query.get('user');
    if (user) {
      const signature = hmac('sha256', SECRETS.webchatIdentity, user, 'hex');
      attributes = ` data-user-id="${user}" data-user-signature="${signature}" data-user-name="${query.get('name') || ''}"`;
    }
    const lang = query.get('lang') ? ` lang="${query.get('lang')}"` : '';
    const html = `<!doctype html><html${lang}><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Example Exchange</title></head>
<body><h1>Example Exchange</h1><p>Trade, deposit, withdraw. Questions? The chat is at the bottom right.</p>
<script src="${gateway}/webchat/chat/widget.js" async${attributes}></script></body></html>`;
    response.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': `default-src 'none'; script-src ${gateway}; connect-src ${gateway} ${socket}; img-src ${gateway}; style-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
    });
    response.end(html);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  site.origin = `http://127.0.0.1:${server.address().port}`;
  site.close = () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); });
  return site;
}

// --- the gateway ---------------------------------------------------------------

// Starts the gateway with every channel that needs no outside server, and email when
// the throwaway mail servers of scripts/with-mail are there.
// `config` is appended to the gateway's config (helpdesk rules, say).
export async function startGateway({ config: extra = '' } = {}) {
  const binary = process.env.SWITCHBOARD_BIN;
  if (!binary) throw new Error('SWITCHBOARD_BIN must name the gateway binary (scripts/browser-test sets it)');
  const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-browser-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const site = await startSite();
  const callback = await fakeCallback();
  const provider = await downProvider();
  const mail = mailServers();
  const config = `
[server]
listen = "127.0.0.1:${port}"

[storage]
backend = "sqlite"
data_dir = ${JSON.stringify(dir)}

[outbox]
backoff_base_seconds = 0.05
backoff_max_seconds = 0.2
max_attempts = 3
poll_interval_ms = 20

[[agents]]
name = "${AGENTS.ada.name}"
token = "${AGENTS.ada.token}"
role = "admin"

[[agents]]
name = "${AGENTS.gus.name}"
token = "${AGENTS.gus.token}"

[channels.api]
kind = "api"
secret = "${SECRETS.api}"
callback_url = "${callback.url}"
timeout_seconds = 5

[channels.telegram]
kind = "telegram"
token = "123456:browser-test-token"
webhook_secret = "${SECRETS.telegram}"
api_url = "${provider.url}"
timeout_seconds = 2

[channels.whatsapp]
kind = "whatsapp"
phone_number_id = "106540352242922"
access_token = "EAAGbrowsertest"
app_secret = "${SECRETS.whatsapp}"
verify_token = "verify"
api_url = "${provider.url}"
timeout_seconds = 2

[channels.chat]
kind = "webchat"
secret = "${SECRETS.webchat}"
identity_secret = "${SECRETS.webchatIdentity}"
allowed_origins = ["${site.origin}", "${url}"]
title = "Example Support"
pre_chat = { name = "optional", email = "optional" }
uploads = { max_bytes = 200000, types = ["image/*", "application/pdf"] }
${mail ? 'continue_by_email = "email"' : ''}

[channels.sms]
kind = "sms"
provider = "twilio"
public_url = "${url}"
from = "${OUR_NUMBER}"
timeout_seconds = 2

[channels.sms.twilio]
account_sid = "${TWILIO_ACCOUNT}"
auth_token = "${SECRETS.twilio}"
api_url = "${provider.url}"
${mail ? mail.config : ''}
${extra}
`;
  const configPath = path.join(dir, 'switchboard.toml');
  writeFileSync(configPath, config);
  const child = spawn(binary, ['serve', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let log = '';
  child.stdout.on('data', (chunk) => { log += chunk; });
  child.stderr.on('data', (chunk) => { log += chunk; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitFor('the gateway to answer /readyz', async () => {
    if (child.exitCode !== null) throw new Error('the gateway exited: ' + log);
    const response = await fetch(url + '/readyz').catch(() => null);
    return response && response.ok;
  }, 20_000);
  const proxy = await proxyTo(port);
  site.gateway = proxy.url;
  return {
    url,
    browserUrl: proxy.url,
    proxy,
    site,
    callback,
    mail,
    log: () => log,
    api: (method, route, token, body) => agentApi(url, method, route, token, body),
    push: (message) => pushApi(url, message),
    async stop() {
      await proxy.close();
      child.kill('SIGTERM');
      await exited;
      await callback.close();
      await provider.close();
      await site.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function agentApi(url, method, route, token, body) {
  const response = await fetch(url + route, {
    method,
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// --- what customers send, signed as each provider signs --------------------------

async function pushApi(url, message) {
  const body = JSON.stringify(message);
  const response = await fetch(url + '/webhooks/api', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-switchboard-signature': 'sha256=' + hmac('sha256', SECRETS.api, body, 'hex') },
    body,
  });
  const answer = await response.json();
  if (!response.ok) throw new Error('push: ' + response.status + ' ' + JSON.stringify(answer));
  return answer;
}

export async function telegramUpdate(url, { updateId, chatId, messageId, firstName, username, text }) {
  const update = {
    update_id: updateId,
    message: {
      message_id: messageId,
      date: Math.floor(Date.now() / 1000),
      chat: { id: chatId, type: 'private', first_name: firstName },
      from: { id: chatId, is_bot: false, first_name: firstName, username },
      text,
    },
  };
  const response = await fetch(url + '/webhooks/telegram', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRETS.telegram },
    body: JSON.stringify(update),
  });
  if (!response.ok) throw new Error('telegram: ' + response.status + ' ' + (await response.text()));
}

export async function whatsappMessage(url, { from, name, wamid, text }) {
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{
      id: '102290129340398',
      changes: [{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
          contacts: [{ profile: { name }, wa_id: from }],
          messages: [{ from, id: wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }],
        },
      }],
    }],
  });
  const response = await fetch(url + '/webhooks/whatsapp', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=' + hmac('sha256', SECRETS.whatsapp, body, 'hex') },
    body,
  });
  if (!response.ok) throw new Error('whatsapp: ' + response.status + ' ' + (await response.text()));
}

let smsSerial = 0;
export async function smsMessage(url, { from, text }) {
  smsSerial += 1;
  const sid = 'SM' + String(Date.now()).padStart(16, '0') + String(smsSerial).padStart(16, '0');
  const params = {
    MessageSid: sid, SmsSid: sid, SmsMessageSid: sid, AccountSid: TWILIO_ACCOUNT,
    From: from, To: OUR_NUMBER, Body: text, NumMedia: '0', NumSegments: '1',
    SmsStatus: 'received', ApiVersion: '2010-04-01',
  };
  const target = url + '/webhooks/sms';
  const signed = target + Object.keys(params).sort().map((key) => key + params[key]).join('');
  const response = await fetch(target, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': hmac('sha1', SECRETS.twilio, signed, 'base64') },
    body: new URLSearchParams(params).toString(),
  });
  if (!response.ok) throw new Error('sms: ' + response.status + ' ' + (await response.text()));
}

// --- mail, when scripts/with-mail runs the servers --------------------------------

function mailServers() {
  const imap = process.env.SWITCHBOARD_TEST_IMAP_ADDR;
  const smtp = process.env.SWITCHBOARD_TEST_SMTP_ADDR;
  if (!imap || !smtp) return null;
  const user = `support-browser-${process.pid}-${Date.now().toString(36)}`;
  const [imapHost, imapPort] = imap.split(':');
  const [smtpHost, smtpPort] = smtp.split(':');
  const address = `${user}@example.com`;
  return {
    address,
    config: `
[channels.email]
kind = "email"
address = "${address}"
display_name = "Example Support"

[channels.email.imap]
host = "${imapHost}"
port = ${imapPort}
tls = "none"
username = "${user}"
password = "test"
initial_sync = "all"

[channels.email.smtp]
host = "${smtpHost}"
port = ${smtpPort}
tls = "none"
timeout_seconds = 10
`,
    send: (from, raw) => smtpSend(smtpHost, Number(smtpPort), from, address, raw),
  };
}

// Just enough SMTP to hand one message to the test server, which delivers it into
// the support mailbox that the gateway reads over IMAP.
function smtpSend(host, port, from, to, raw) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    const steps = [`EHLO browser-test`, `MAIL FROM:<${from}>`, `RCPT TO:<${to}>`, 'DATA',
      raw.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..') + '\r\n.', 'QUIT'];
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (data) => {
      buffer += data;
      // A reply is complete when its last line has a space after the code.
      const lines = buffer.split('\r\n');
      const last = lines[lines.length - 2];
      if (!last || last[3] !== ' ') return;
      buffer = '';
      const code = Number(last.slice(0, 3));
      if (code >= 400) { socket.destroy(); reject(new Error('SMTP: ' + last)); return; }
      const next = steps.shift();
      if (next === undefined) { socket.end(); resolve(); return; }
      socket.write(next + '\r\n');
    });
  });
}

// --- the browser ---------------------------------------------------------------

export async function launchBrowser() {
  mkdirSync(screenshotDir, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

// A page that fails the test on anything a hostile payload could cause: a dialog, a
// script error, or the Content-Security-Policy blocking something (which means markup
// from a customer reached the page).
async function watchedPage(context) {
  const page = await context.newPage();
  const problems = [];
  page.on('dialog', (dialog) => { problems.push('dialog: ' + dialog.message()); dialog.dismiss(); });
  page.on('pageerror', (error) => problems.push('script error: ' + error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource|ERR_CONNECTION|net::|WebSocket/.test(message.text())) {
      problems.push('console error: ' + message.text());
    }
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error('CSP violation: ' + event.violatedDirective + ' ' + event.blockedURI);
    });
  });
  return { page, context, problems };
}

export async function agentPage(browser, gateway) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: gateway.browserUrl });
  return watchedPage(context);
}

// The customer's browser on the company's site: a desktop by default, or a phone
// (`phone: true`: small screen, touch), in `locale`.
export async function customerPage(browser, gateway, { phone = false, locale = 'en-US' } = {}) {
  const context = await browser.newContext({
    baseURL: gateway.site.origin,
    locale,
    ...(phone
      ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }
      : { viewport: { width: 1280, height: 800 } }),
  });
  return watchedPage(context);
}

export async function signIn(page, agent) {
  await page.goto('/');
  await page.fill('#token', agent.token);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#inbox:not([hidden])');
  await page.waitForSelector('#connection[data-state=live]');
}

let serial = 0;
// An id no other test of this run uses.
export const unique = (prefix) => `${prefix}-${Date.now().toString(36)}-${++serial}`;

// Opens a ticket from the list and waits for its conversation.
export async function openTicket(page, reference) {
  await page.click(`a.ticket[data-reference="${reference}"]`);
  await page.waitForSelector(`#ticket-pane .ticket-header .reference:text("${reference}")`);
}

export async function screenshot(page, name) {
  await page.screenshot({ path: path.join(screenshotDir, name + '.png') });
}
