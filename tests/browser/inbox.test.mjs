// The agents' inbox in headless Chromium against the real gateway: live updates, a
// reply reaching the integrator, a failed delivery's reason, a cut connection that
// loses nothing, and hostile customer content that never runs.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import {
  AGENTS, agentPage, launchBrowser, openTicket, screenshot, signIn, smsMessage, startGateway,
  telegramUpdate, unique, waitFor, whatsappMessage,
} from './harness.mjs';

let gateway;
let browser;

before(async () => {
  gateway = await startGateway();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});


function customerMessage(text, sender = unique('customer'), extra = {}) {
  return { external_id: unique('m'), sender: { id: sender, name: 'Nadia Rahman' }, text, ...extra };
}

// The visible messages of the open conversation, as text.
const messageTexts = (page) => page.$$eval('#ticket-pane .message .text', (nodes) => nodes.map((n) => n.textContent));

describe('the inbox', () => {
  test('the first load is small and comes with a strict policy', async () => {
    const page = await fetch(gateway.url + '/');
    const policy = page.headers.get('content-security-policy');
    assert.match(policy, /script-src 'self'/);
    assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/);
    const html = await page.text();
    const assets = ['/inbox/inbox.css', '/inbox/app.js', '/inbox/api.js', '/inbox/dom.js', '/inbox/feed.js', '/inbox/helpdesk.js'];
    let gzipped = gzipSync(html).length;
    for (const asset of assets) {
      const body = Buffer.from(await (await fetch(gateway.url + asset)).arrayBuffer());
      gzipped += gzipSync(body, { level: 9 }).length;
    }
    console.log(`inbox first load: ${gzipped} bytes gzipped (budget 200 KB)`);
    assert.ok(gzipped < 200 * 1024, `${gzipped} bytes`);
  });

  test('the API documentation page works under a strict policy of its own', async () => {
    const { page, context, problems } = await agentPage(browser, gateway);
    const response = await page.goto('/docs/');
    assert.match(response.headers()['content-security-policy'], /script-src 'self'/);
    await page.waitForSelector('.swagger-ui .info .title');
    await page.waitForSelector('.opblock-tag');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a wrong token is refused by name, and sign-out ends the session', async () => {
    const { page, context, problems } = await agentPage(browser, gateway);
    await page.goto('/');
    await page.fill('#token', 'not-a-token');
    await page.click('#signin-form button[type=submit]');
    await page.waitForSelector('#signin-error:not([hidden])');
    assert.match(await page.textContent('#signin-error'), /not an agent/);
    await screenshot(page, '01-sign-in-refused');
    await signIn(page, AGENTS.gus);
    await page.click('#signout');
    await page.waitForSelector('#signin:not([hidden])');
    await page.reload();
    await page.waitForSelector('#signin:not([hidden])');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a message pushed through a channel appears live, and a reply reaches the integrator', async () => {
    const { page, context, problems } = await agentPage(browser, gateway);
    await signIn(page, AGENTS.gus);
    const sender = unique('nadia');
    const pushed = await gateway.push(customerMessage('My withdrawal of 0.5 BTC is pending since yesterday', sender, { subject: 'Withdrawal pending' }));
    const reference = pushed.ticket_reference;
    // No reload: the live feed brings it.
    await page.waitForSelector(`a.ticket.unread[data-reference="${reference}"]`);
    await screenshot(page, '02-new-ticket-live');
    await openTicket(page, reference);
    assert.equal(await page.textContent('.reply-to'), `Reply on api to api:${sender}`);
    assert.deepEqual(await messageTexts(page), ['My withdrawal of 0.5 BTC is pending since yesterday']);

    await page.press('body', 'r');
    await page.keyboard.type('It was sent this morning: the transaction id is 7f3a…');
    await page.keyboard.press('Control+Enter');
    const delivered = await waitFor('the reply at the callback', () => gateway.callback.delivered().find((r) => r.ticket.reference === reference));
    assert.equal(delivered.text, 'It was sent this morning: the transaction id is 7f3a…');
    assert.equal(delivered.recipient, sender);
    await page.waitForSelector('#ticket-pane .message.outbound .delivery-sent');
    assert.equal(await page.inputValue('#reply-text'), '', 'the sent draft is cleared');

    await page.keyboard.press('Escape');
    await page.keyboard.press('r');
    await page.keyboard.type('Customer is a VIP; check with finance.');
    await page.keyboard.press('Control+Shift+Enter');
    await page.waitForSelector('#ticket-pane .message.note .note-badge');
    assert.equal(await page.textContent('#ticket-pane .message.note .text'), 'Customer is a VIP; check with finance.');
    assert.equal(gateway.callback.delivered().filter((r) => r.ticket.reference === reference).length, 1, 'notes never go out');
    await screenshot(page, '03-replied');
    assert.equal(gateway.callback.badSignatures(), 0);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a failed delivery shows its reason', async () => {
    const { page, context, problems } = await agentPage(browser, gateway);
    await signIn(page, AGENTS.gus);
    const { ticket_reference: reference } = await gateway.push(customerMessage('Please close my account'));
    await page.waitForSelector(`a.ticket[data-reference="${reference}"]`);
    await openTicket(page, reference);
    gateway.callback.answer(422, 'account 1234 is closed');
    await page.fill('#reply-text', 'Done, your account is closed.');
    await page.click('#reply-button');
    await page.waitForSelector('#ticket-pane .message.outbound .delivery-failed');
    assert.match(await page.textContent('#ticket-pane .message.outbound .failure'), /callback answered 422 Unprocessable Entity: account 1234 is closed/);
    await screenshot(page, '04-delivery-failed');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('counts beside the filters follow the tickets, and the priority filter narrows the list', async () => {
    const { page, context, problems } = await agentPage(browser, gateway);
    await signIn(page, AGENTS.gus);
    const { ticket_reference: reference } = await gateway.push(customerMessage('My margin call was wrong'));
    await page.waitForSelector(`a.ticket[data-reference="${reference}"]`);
    const optionText = (select, value) =>
      page.$eval(`#${select} option[value="${value}"]`, (option) => option.textContent);
    await waitFor('the urgent count to be read', async () => /^Urgent · \d+$/.test(await optionText('filter-priority', 'urgent')));
    const urgentBefore = Number((await optionText('filter-priority', 'urgent')).split(' · ')[1]);
    await openTicket(page, reference);
    await page.selectOption('#ticket-pane label.field:has-text("Priority") select', 'urgent');
    await waitFor('the urgent count to go up', async () =>
      (await optionText('filter-priority', 'urgent')) === `Urgent · ${urgentBefore + 1}`);
    await page.selectOption('#filter-priority', 'urgent');
    await waitFor('the list to hold only urgent tickets', async () =>
      (await page.textContent('#list-count')) === `${urgentBefore + 1} ${urgentBefore ? 'tickets' : 'ticket'}`);
    const priorities = await page.$$eval('#tickets .badge.priority-urgent', (nodes) => nodes.length);
    assert.equal(priorities, await page.$$eval('#tickets a.ticket', (nodes) => nodes.length));
    assert.ok(await page.$(`a.ticket[data-reference="${reference}"]`));
    assert.match(await optionText('filter-status', ''), /^Queue · \d+$/);
    await screenshot(page, '05-filter-counts');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('admin views are offered to admins only, and refused to agents by the gateway', async () => {
    const { ticket_reference: reference } = await gateway.push(customerMessage('Is my payout sent?'));
    gateway.callback.answer(422, 'payout service refused');
    const agent = await agentPage(browser, gateway);
    await signIn(agent.page, AGENTS.gus);
    await agent.page.waitForSelector(`a.ticket[data-reference="${reference}"]`);
    await openTicket(agent.page, reference);
    await agent.page.fill('#reply-text', 'Yes, it left this morning.');
    await agent.page.click('#reply-button');
    await agent.page.waitForSelector('#ticket-pane .message.outbound .delivery-failed', { timeout: 20_000 });
    assert.equal(await agent.page.isHidden('#channels-button'), true);
    assert.equal(await agent.page.$('#ticket-pane button.retry'), null, 'no retry for agents');
    const refused = await agent.page.evaluate(async () => {
      const response = await fetch('/api/v1/channels');
      return [response.status, (await response.json()).error.code];
    });
    assert.deepEqual(refused, [403, 'forbidden']);
    await agent.context.close();

    const admin = await agentPage(browser, gateway);
    await signIn(admin.page, AGENTS.ada);
    await admin.page.click('#channels-button');
    await admin.page.waitForSelector('#channels[open] #channels-body tr');
    const rows = await admin.page.$$eval('#channels-body tr', (trs) => trs.map((tr) => tr.firstChild.textContent));
    assert.ok(rows.includes('api'), rows.join(', '));
    await screenshot(admin.page, '06-admin-channels');
    await admin.page.click('#channels button');
    await openTicket(admin.page, reference);
    await admin.page.click('#ticket-pane button.retry');
    await admin.page.waitForSelector('#ticket-pane .message.outbound .delivery-sent');
    assert.equal(await admin.page.$('#ticket-pane button.retry'), null);
    assert.deepEqual(admin.problems, []);
    await admin.context.close();
  });

  test('the connection cut and restored loses nothing and doubles nothing', async () => {
    const { page, context, problems } = await agentPage(browser, gateway);
    await signIn(page, AGENTS.gus);
    const sender = unique('omar');
    const { ticket_reference: reference } = await gateway.push(customerMessage('Is the ETH deposit credited?', sender));
    await page.waitForSelector(`a.ticket[data-reference="${reference}"]`);
    await openTicket(page, reference);
    await page.fill('#reply-text', 'Let me check');

    gateway.proxy.cut();
    await page.waitForSelector('#connection:not([data-state=live])');
    // While this agent is away: a colleague answers, the customer writes again, and a
    // new customer opens a ticket.
    await gateway.api('POST', `/api/v1/tickets/${reference}/replies`, AGENTS.ada.token, { text: 'Credited at 10:02, you should see it now.' });
    await gateway.push(customerMessage('Thanks, I see it!', sender));
    const { ticket_reference: other } = await gateway.push(customerMessage('Cannot log in'));
    await screenshot(page, '07-connection-cut');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    gateway.proxy.restore();

    await page.waitForSelector('#connection[data-state=live]', { timeout: 15_000 });
    await page.waitForSelector(`a.ticket[data-reference="${other}"]`);
    await waitFor('the missed messages', async () => (await messageTexts(page)).length === 3);
    assert.deepEqual(await messageTexts(page), [
      'Is the ETH deposit credited?',
      'Credited at 10:02, you should see it now.',
      'Thanks, I see it!',
    ]);
    assert.equal(await page.inputValue('#reply-text'), 'Let me check', 'the draft survives');
    const references = await page.$$eval('a.ticket', (links) => links.map((l) => l.dataset.reference));
    assert.equal(references.filter((r) => r === reference).length, 1);
    assert.equal(references.filter((r) => r === other).length, 1);
    await screenshot(page, '08-connection-restored');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('colleagues see each other on a ticket, and a reply after the conversation moved on is held', async () => {
    const gus = await agentPage(browser, gateway);
    const ada = await agentPage(browser, gateway);
    await signIn(gus.page, AGENTS.gus);
    await signIn(ada.page, AGENTS.ada);
    const sender = unique('lee');
    const { ticket_reference: reference } = await gateway.push(customerMessage('My card payment was declined twice', sender));
    for (const { page } of [gus, ada]) {
      await page.waitForSelector(`a.ticket[data-reference="${reference}"]`);
      await openTicket(page, reference);
    }
    await gus.page.waitForSelector('#presence:text("Ada Admin is viewing")');
    await ada.page.fill('#reply-text', '');
    await ada.page.type('#reply-text', 'Sorry about that');
    await gus.page.waitForSelector('#presence.typing:text("Ada Admin is typing a reply")');
    await screenshot(gus.page, '09-colleague-typing');

    // Gus starts his answer; meanwhile Ada sends hers and the customer writes again.
    await gus.page.fill('#reply-text', 'Please try again now');
    await ada.page.click('#reply-button');
    await waitFor('Ada\'s reply at the callback', () => gateway.callback.delivered().some((r) => r.ticket.reference === reference));
    await gateway.push(customerMessage('It worked, thanks', sender));
    // The page says so before he sends...
    await gus.page.waitForSelector('#changed:has-text("New since you opened this ticket")');
    assert.match(await gus.page.textContent('#changed'), /Ada Admin replied.*Sorry about that/s);
    assert.match(await gus.page.textContent('#changed'), /It worked, thanks/);
    await screenshot(gus.page, '10-moved-on');
    // ...and the gateway holds the reply if he sends without reading.
    await gus.page.click('#reply-button');
    await gus.page.waitForSelector('#changed:has-text("Not sent yet")');
    await screenshot(gus.page, '11-reply-held');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const mine = () => gateway.callback.received.filter((r) => r.ticket.reference === reference && r.text === 'Please try again now');
    assert.equal(mine().length, 0, 'nothing went out');
    assert.equal(await gus.page.inputValue('#reply-text'), 'Please try again now');
    await gus.page.click('#send-anyway');
    await waitFor('Gus\'s reply at the callback', () => mine().length === 1);
    await gus.page.waitForSelector('#reply-status:text("Reply queued")');
    assert.equal(await gus.page.$('#changed'), null);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(mine().length, 1, 'sent once');
    for (const { problems, context } of [gus, ada]) {
      assert.deepEqual(problems, []);
      await context.close();
    }
  });

  test('hostile content from every channel is shown as text and never runs', async () => {
    const { page, context, problems } = await agentPage(browser, gateway);
    await page.exposeFunction('__reportPwned', (how) => problems.push('payload ran: ' + how));
    // Nothing a customer sent may make the agent's browser call anywhere else.
    page.on('request', (request) => {
      if (!request.url().startsWith(gateway.browserUrl + '/')) problems.push('request to ' + request.url());
    });
    await signIn(page, AGENTS.gus);
    const payloads = [
      '<script>__reportPwned("script")</script>',
      '<img src=x onerror="__reportPwned(\'img\')">',
      '<a href="javascript:__reportPwned(\'link\')">click</a>',
      '<svg onload="__reportPwned(\'svg\')"><script>__reportPwned("svg script")</script></svg>',
      '<style>body{display:none}</style><div style="position:fixed;inset:0;background:red">x</div>',
      '"><iframe src="javascript:__reportPwned(\'iframe\')"></iframe>',
    ];
    const text = payloads.join('\n');
    const hostileName = '<img src=x onerror="__reportPwned(\'name\')">';
    const references = [];
    references.push((await gateway.push({
      external_id: unique('h'), sender: { id: unique('h'), name: hostileName }, subject: '<b onmouseover="__reportPwned(\'subject\')">Subject</b>', text,
      attachments: [{ filename: '<img src=x onerror="__reportPwned(\'file\')">.svg', content_type: 'image/svg+xml',
        data: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="__reportPwned(\'svg file\')"><script>__reportPwned("svg file script")</script></svg>').toString('base64') }],
    })).ticket_reference);
    await telegramUpdate(gateway.url, { updateId: 9001, chatId: 777001, messageId: 1, firstName: hostileName, username: 'hostile_user', text });
    await whatsappMessage(gateway.url, { from: '60123456789', name: hostileName, wamid: 'wamid.' + unique('h'), text });
    await smsMessage(gateway.url, { from: '+60198765432', text });
    if (gateway.mail) {
      await gateway.mail.send('mallory@example.net', [
        `From: "${hostileName}" <mallory@example.net>`,
        `To: ${gateway.mail.address}`,
        'Subject: <script>__reportPwned("mail subject")</script>',
        'Message-ID: <' + unique('hostile') + '@example.net>',
        'MIME-Version: 1.0',
        'Content-Type: multipart/alternative; boundary="b"',
        '',
        '--b',
        'Content-Type: text/plain; charset=utf-8',
        '',
        text,
        '--b',
        'Content-Type: text/html; charset=utf-8',
        '',
        '<html><body onload="__reportPwned(\'mail body\')"><p>Formatted</p>' + payloads.join('') +
          '<form action="https://evil.example/"><input name=seed></form><img src="https://evil.example/track.png"></body></html>',
        '--b--',
        '',
      ].join('\n'));
    }
    const channels = ['api', 'telegram', 'whatsapp', 'sms', ...(gateway.mail ? ['email'] : [])];
    const tickets = await waitFor('a ticket on every channel', async () => {
      const list = await gateway.api('GET', '/api/v1/tickets?limit=200', AGENTS.gus.token);
      const found = channels.map((channel) => list.tickets.find((t) => t.channel === channel &&
        (channel !== 'api' || references.includes(t.reference))));
      return found.every(Boolean) && found;
    }, 30_000);
    for (const ticket of tickets) {
      await page.waitForSelector(`a.ticket[data-reference="${ticket.reference}"]`);
      await openTicket(page, ticket.reference);
      await page.waitForSelector('#ticket-pane .message.inbound .text');
      const shown = await page.textContent('#ticket-pane .message.inbound .text');
      for (const payload of payloads) assert.ok(shown.includes(payload), `${ticket.channel}: ${payload} shown as text in ${shown}`);
      await page.click('#ticket-pane .contact summary');
      const formatted = await page.$('#ticket-pane details.formatted');
      if (formatted) {
        await formatted.click();
        const element = await page.waitForSelector('#ticket-pane details.formatted iframe');
        assert.equal(await element.getAttribute('sandbox'), '', 'mail is shown in a frame that may run nothing');
        const frame = await element.contentFrame();
        await frame.waitForSelector('text=Formatted');
        const html = await frame.content();
        assert.doesNotMatch(html, /onload|onerror|<script|javascript:|evil\.example/i, 'the gateway sanitized it');
      }
      // Hover and click whatever there is, as a curious agent would.
      for (const link of await page.$$('#ticket-pane .message a')) {
        const href = await link.getAttribute('href');
        assert.doesNotMatch(href || '', /^javascript:/i);
      }
      await page.hover('#ticket-pane .message.inbound');
      await screenshot(page, `12-hostile-${ticket.channel}`);
    }
    const injected = await page.$$eval('#ticket-pane .message script, #ticket-pane .message svg, #ticket-pane .message iframe:not([sandbox]), #ticket-pane .message img[src="x"], #tickets img, #tickets script',
      (nodes) => nodes.map((n) => n.outerHTML));
    assert.deepEqual(injected, []);
    assert.deepEqual(problems, []);
    await context.close();
  });
});
