// The web chat widget in headless Chromium, embedded by one script tag in a site on
// another origin under a strict policy: a customer chats and an agent's reply appears,
// a reload keeps the history, a cut connection and a silently dead socket (a phone
// that slept) miss nothing and double nothing, it speaks the page's language, and
// what agents and customers write is shown as text.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { AGENTS, agentPage, customerPage, launchBrowser, screenshot, signIn, startGateway, waitFor } from './harness.mjs';

let gateway;
let browser;

before(async () => {
  gateway = await startGateway();
  browser = await launchBrowser();
});

// A test that failed with the connection cut must not take the next ones with it.
afterEach(() => gateway.proxy.restore());

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

// The texts of the chat's messages, in order, and whether any is still sending.
const chatTexts = (page) => page.locator('.log .row .bubble').allInnerTexts();
const pendingCount = (page) => page.locator('.log .row.pending').count();

async function openChat(page, query = '') {
  await page.goto('/' + query);
  await page.locator('.launcher').click();
  await page.waitForSelector('.panel:not([hidden])');
}

async function send(page, text) {
  await page.locator('textarea').fill(text);
  await page.locator('textarea').press('Enter');
}

async function reference(page) {
  const chip = await waitFor('the ticket reference', async () => {
    const text = await page.locator('.chips .chip').first().innerText().catch(() => '');
    return /SB-[0-9A-Z]+/.exec(text)?.[0];
  });
  return chip;
}

const reply = (ticket, text, token = AGENTS.gus.token) =>
  gateway.api('POST', `/api/v1/tickets/${ticket}/replies`, token, { text });

async function messagesOf(ticket) {
  const detail = await gateway.api('GET', `/api/v1/tickets/${ticket}`, AGENTS.ada.token);
  return detail.messages.map((m) => m.text);
}

describe('the web chat', () => {
  test('the widget is one small script', async () => {
    const response = await fetch(gateway.url + '/webchat/chat/widget.js');
    assert.equal(response.status, 200);
    const body = Buffer.from(await response.arrayBuffer());
    const gzipped = gzipSync(body, { level: 9 }).length;
    console.log(`web chat widget: ${gzipped} bytes gzipped (budget 30 KB)`);
    assert.ok(gzipped < 30 * 1024, `${gzipped} bytes`);
  });

  test('a customer chats, the agent replies, and a reload keeps the conversation', async () => {
    const { page, context, problems } = await customerPage(browser, gateway);
    // An agent at work: the widget says so.
    await gateway.api('GET', '/api/v1/tickets', AGENTS.gus.token);
    await openChat(page);
    await page.waitForSelector('.dot.on');
    await page.locator('input[name=name]').fill('Aminah Yusof');
    await page.locator('input[name=email]').fill('aminah@example.com');
    await page.locator('form.prechat button').click();
    await send(page, 'My withdrawal to <b>0x1f</b> is stuck');
    const ticket = await reference(page);
    await waitFor('the message acknowledged', async () => (await pendingCount(page)) === 0);
    await screenshot(page, '13-chat-sent');

    await page.waitForTimeout(100);
    await gateway.api('POST', `/api/v1/tickets/${ticket}/presence`, AGENTS.gus.token, { state: 'typing' });
    await page.waitForSelector('.typing:text("Gus Agent is typing…")');
    await reply(ticket, 'Checking it now. See https://status.example.com/withdrawals <img src=x onerror=alert(1)>');
    await waitFor('the reply in the chat', async () => (await chatTexts(page)).length === 2);
    const texts = await chatTexts(page);
    assert.match(texts[0], /My withdrawal to <b>0x1f<\/b> is stuck/);
    assert.match(texts[1], /<img src=x onerror=alert\(1\)>/);
    const link = page.locator('.row.agent .bubble a');
    assert.equal(await link.getAttribute('href'), 'https://status.example.com/withdrawals');
    assert.equal(await link.getAttribute('rel'), 'noopener noreferrer nofollow');
    assert.equal(await page.locator('.row.agent img').count(), 0, 'markup in a reply stays text');
    await page.waitForSelector('.typing:empty');
    await screenshot(page, '14-chat-replied');

    // The reply was shown to a customer looking at it: it is read.
    await waitFor('the reply read', async () => {
      const detail = await gateway.api('GET', `/api/v1/tickets/${ticket}`, AGENTS.ada.token);
      return detail.messages.at(-1).delivery_status === 'read';
    });

    await page.reload();
    await page.waitForSelector('.panel:not([hidden])');
    await waitFor('the history after a reload', async () => (await chatTexts(page)).length === 2);
    assert.equal(await page.locator('form.prechat').isHidden(), true, 'no form for a started conversation');
    const detail = await gateway.api('GET', `/api/v1/tickets/${ticket}`, AGENTS.ada.token);
    assert.equal(detail.contact.name, 'Aminah Yusof');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('the agent in the inbox and the customer in the widget see each other type, and the reply arrives', async () => {
    const customer = await customerPage(browser, gateway);
    await openChat(customer.page);
    await customer.page.locator('form.prechat button').click();
    await send(customer.page, 'Hi, a question about fees');
    const ticket = await reference(customer.page);
    const agent = await agentPage(browser, gateway);
    await signIn(agent.page, AGENTS.gus);
    await agent.page.click(`a.ticket[data-reference="${ticket}"]`);
    await agent.page.waitForSelector('#ticket-pane .message .text:text("Hi, a question about fees")');
    assert.match(await agent.page.textContent('.reply-to'), /^Reply on chat to Visitor [A-Z0-9]{1,6}$/);
    // An agent at work: the widget says so without waiting.
    await customer.page.waitForSelector('.dot.on', { timeout: 5_000 });

    await customer.page.locator('textarea').pressSequentially('What is the fee for');
    await agent.page.waitForSelector('#presence:text("The customer is typing…")');
    await screenshot(agent.page, '21-inbox-customer-typing');
    await agent.page.press('body', 'r');
    await agent.page.keyboard.type('The fee is 0.1%');
    await customer.page.waitForSelector('.typing:text("Gus Agent is typing…")');
    await agent.page.keyboard.press('Control+Enter');
    await waitFor('the inbox reply in the widget', async () => (await chatTexts(customer.page)).some((t) => t.startsWith('The fee is 0.1%')));
    await agent.page.waitForSelector('#ticket-pane .message.outbound .delivery-read');
    await screenshot(customer.page, '22-chat-inbox-reply');
    assert.deepEqual([...customer.problems, ...agent.problems], []);
    await customer.context.close();
    await agent.context.close();
  });

  test('files go both ways: the customer’s upload reaches the ticket, the agent’s image shows in the chat', async () => {
    const { page, context, problems } = await customerPage(browser, gateway);
    await openChat(page);
    await page.locator('form.prechat button').click();
    // A 1x1 PNG, as a phone's photo picker would hand it over.
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==', 'base64');
    await page.locator('input[type=file]').setInputFiles({ name: 'receipt 1.png', mimeType: 'image/png', buffer: png });
    await page.waitForSelector('.chip:text("📎 receipt 1.png")');
    await send(page, 'Here is the receipt');
    const ticket = await reference(page);
    await waitFor('acknowledged', async () => (await pendingCount(page)) === 0);
    const detail = await gateway.api('GET', `/api/v1/tickets/${ticket}`, AGENTS.ada.token);
    assert.deepEqual(detail.messages[0].attachments.map((a) => [a.filename, a.content_type, a.size]), [['receipt 1.png', 'image/png', png.length]]);
    await page.waitForSelector('.row.customer img[alt="receipt 1.png"]');

    // A file type the channel does not take is refused in the widget, by name.
    await page.locator('input[type=file]').setInputFiles({ name: 'page.html', mimeType: 'text/html', buffer: Buffer.from('<script>alert(1)</script>') });
    await page.waitForSelector('.err:text("That kind of file cannot be sent here.")');

    await gateway.api('POST', `/api/v1/tickets/${ticket}/replies`, AGENTS.gus.token, {
      text: 'Thanks, and here is the confirmation',
      attachments: [{ filename: 'confirmation.png', content_type: 'image/png', data: png.toString('base64') }],
    });
    const image = page.locator('.row.agent img[alt="confirmation.png"]');
    await image.waitFor();
    await waitFor('the image loaded from the gateway', () => image.evaluate((img) => img.complete && img.naturalWidth === 1));
    await screenshot(page, '23-chat-files');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a cut connection loses nothing and doubles nothing', async () => {
    const { page, context, problems } = await customerPage(browser, gateway);
    await openChat(page);
    await page.locator('form.prechat button').click();
    await send(page, 'Is the deposit credited?');
    const ticket = await reference(page);
    await waitFor('the first message acknowledged', async () => (await pendingCount(page)) === 0);

    gateway.proxy.cut();
    await waitFor('the widget to notice', async () => (await page.locator('.status').innerText()) === 'Reconnecting…');
    await reply(ticket, 'Yes, at 10:02.');
    await reply(ticket, 'You should see it in your balance.');
    await send(page, 'Still not there, I am offline?');
    assert.equal(await pendingCount(page), 1);
    await screenshot(page, '15-chat-cut');
    await page.waitForTimeout(1000);
    gateway.proxy.restore();

    await waitFor('everything after the cut', async () => (await chatTexts(page)).length === 4 && (await pendingCount(page)) === 0, 20_000);
    const texts = await chatTexts(page);
    assert.deepEqual(texts.map((t) => t.split('\n')[0]), [
      'Is the deposit credited?',
      'Yes, at 10:02.',
      'You should see it in your balance.',
      'Still not there, I am offline?',
    ]);
    assert.deepEqual(await messagesOf(ticket), texts.map((t) => t.split('\n')[0]), 'the ticket has each message once');
    await screenshot(page, '16-chat-restored');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a phone that slept gets the replies it missed without a reload', async () => {
    const { page, context, problems } = await customerPage(browser, gateway, { phone: true });
    await openChat(page);
    await page.locator('form.prechat button').click();
    await send(page, 'Hello from my phone');
    const ticket = await reference(page);
    await waitFor('acknowledged', async () => (await pendingCount(page)) === 0);
    // The phone locks: its socket goes silent without closing, and replies sent
    // meanwhile go nowhere.
    gateway.proxy.freeze();
    await reply(ticket, 'We answered while your phone was locked');
    await page.waitForTimeout(500);
    assert.equal((await chatTexts(page)).length, 1);
    // Unlocked: the page becomes visible again and the widget checks its socket.
    await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
    await waitFor('the missed reply', async () => (await chatTexts(page)).length === 2, 15_000);
    assert.match((await chatTexts(page))[1], /We answered while your phone was locked/);
    await screenshot(page, '17-chat-phone');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('the widget speaks the page’s or the browser’s language', async () => {
    const malay = await customerPage(browser, gateway);
    await malay.page.goto('/?lang=ms');
    assert.equal(await malay.page.locator('.launcher').getAttribute('aria-label'), 'Sembang dengan kami');
    await malay.page.locator('.launcher').click();
    assert.equal(await malay.page.locator('textarea').getAttribute('placeholder'), 'Tulis mesej…');
    await malay.context.close();

    const chinese = await customerPage(browser, gateway, { locale: 'zh-CN' });
    await chinese.page.goto('/');
    await chinese.page.locator('.launcher').click();
    assert.equal(await chinese.page.locator('textarea').getAttribute('placeholder'), '输入消息…');
    await screenshot(chinese.page, '18-chat-chinese');
    assert.deepEqual([...malay.problems, ...chinese.problems], []);
    await chinese.context.close();
  });

  test('with nobody online, the chat takes an email address and continues by email', async (t) => {
    if (!gateway.mail) {
      t.skip('needs the mail servers: run under scripts/with-mail');
      return;
    }
    // A gateway no agent has used yet: nobody is online.
    const quiet = await startGateway();
    try {
      const { page, context, problems } = await customerPage(browser, quiet);
      await openChat(page);
      await page.waitForSelector('.notice:not([hidden])');
      assert.match(await page.locator('.notice').innerText(), /answer by email/);
      await page.locator('input[name=name]').fill('Lim Mei Ling');
      await page.locator('input[name=email]').fill('meiling@customer.example');
      await screenshot(page, '19-chat-offline-form');
      await page.locator('form.prechat button').click();
      await send(page, 'Can someone call me tomorrow about my KYC?');
      const ticket = await reference(page);
      await page.waitForSelector('.chip:text("We will answer by email at meiling@customer.example")');
      await screenshot(page, '20-chat-offline-sent');

      const answer = await quiet.api('POST', `/api/v1/tickets/${ticket}/replies`, AGENTS.gus.token, { text: 'Tomorrow at 10:00 works.' });
      const sent = await waitFor('the reply sent by email', async () => {
        const detail = await quiet.api('GET', `/api/v1/tickets/${ticket}`, AGENTS.ada.token);
        const reply = detail.messages.find((m) => m.id === answer.message_id);
        return reply.delivery_status === 'sent' && reply;
      }, 20_000);
      assert.equal(sent.channel, 'email');
      await quiet.mail.send('meiling@customer.example', [
        'From: Lim Mei Ling <meiling@customer.example>',
        `To: ${quiet.mail.address}`,
        `Subject: Re: [#${ticket}] KYC`,
        `In-Reply-To: <${sent.external_id}>`,
        'Message-ID: <meiling.1@customer.example>',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Thank you, 10:00 is fine.',
      ].join('\n'));
      await waitFor('the customer’s email in the same ticket', async () => (await (async () => {
        const detail = await quiet.api('GET', `/api/v1/tickets/${ticket}`, AGENTS.ada.token);
        return detail.messages.map((m) => m.text);
      })()).includes('Thank you, 10:00 is fine.'), 30_000);
      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      await quiet.stop();
    }
  });

  test('the demo page on the gateway embeds the chat under its own strict policy', async () => {
    const { page, context, problems } = await customerPage(browser, gateway);
    const response = await page.goto(gateway.url + '/webchat/chat/demo');
    assert.match(response.headers()['content-security-policy'], /script-src 'self'/);
    await page.locator('.launcher').click();
    await page.waitForSelector('.status:has-text("We are")');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a signed-in user continues on another device', async () => {
    const laptop = await customerPage(browser, gateway);
    await openChat(laptop.page, '?user=user-7&name=Tan%20Wei');
    await send(laptop.page, 'Started on my laptop');
    const ticket = await reference(laptop.page);
    await waitFor('acknowledged', async () => (await pendingCount(laptop.page)) === 0);
    await laptop.context.close();

    const phone = await customerPage(browser, gateway, { phone: true });
    await openChat(phone.page, '?user=user-7&name=Tan%20Wei');
    await waitFor('the laptop’s message on the phone', async () => (await chatTexts(phone.page)).length === 1);
    await send(phone.page, 'Now on my phone');
    await waitFor('acknowledged', async () => (await pendingCount(phone.page)) === 0);
    assert.deepEqual(await messagesOf(ticket), ['Started on my laptop', 'Now on my phone']);
    assert.deepEqual([...laptop.problems, ...phone.problems], []);
    await phone.context.close();
  });
});
