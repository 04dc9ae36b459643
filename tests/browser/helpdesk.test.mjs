// The helpdesk rules in the inbox, in headless Chromium against the real gateway:
// a ticket triaged, routed and counting down its response target, a category change
// that moves the target, canned replies and articles in the customer's language, and
// a secret removed before the agent could see it.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  AGENTS, KNOWLEDGE_DIR, agentPage, launchBrowser, openTicket, screenshot, signIn, startGateway, unique,
  waitFor,
} from './harness.mjs';

const RULES = `
[calendars.always]
time_zone = "Asia/Kuala_Lumpur"
always = true

[helpdesk]
languages = ["en", "ms", "zh"]
default_category = "general"
knowledge = ${JSON.stringify(KNOWLEDGE_DIR)}

[[helpdesk.triage]]
name = "money"
category = "deposits_withdrawals"
keywords = ["withdrawal", "pengeluaran", "提款"]

[[helpdesk.teams]]
name = "payments"
agents = ["${AGENTS.gus.name}"]
categories = ["deposits_withdrawals"]

[[helpdesk.sla]]
name = "money"
categories = ["deposits_withdrawals"]
calendar = "always"
first_response_minutes = 60
resolution_minutes = 1440

[[helpdesk.sla]]
name = "general"
calendar = "always"
first_response_minutes = 240

[helpdesk.canned.withdrawal-delay]
title = "Withdrawal delayed"
text.en = "Hello {customer_name}, your withdrawal on {reference} is waiting for network confirmations. {agent_name}"
text.ms = "Hai {customer_name}, pengeluaran anda untuk {reference} sedang menunggu pengesahan rangkaian. {agent_name}"
`;

let gateway;
let browser;

before(async () => {
  gateway = await startGateway({ config: RULES });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

const push = (text, name = 'Nurul Aina') =>
  gateway.push({ external_id: unique('m'), sender: { id: unique('customer'), name }, text });

const text = (page, selector) => page.textContent(selector).then((t) => t.trim());

describe('the helpdesk in the inbox', () => {
  test('a Malay withdrawal is triaged, routed, counts down, and gets canned replies and articles in Malay', async () => {
    const { page, context, problems } = await agentPage(browser, gateway);
    await signIn(page, AGENTS.gus);
    const pushed = await push('Salam, pengeluaran saya masih pending sejak semalam. Boleh tolong semak?');
    const reference = pushed.ticket_reference;
    const item = `a.ticket[data-reference="${reference}"]`;
    await page.waitForSelector(item);
    // The list says which target comes first and how long is left, and whose it is.
    assert.match(await text(page, `${item} .sla`), /^reply in (59 min|1 h)$/);
    assert.ok(await page.$(`${item} .sla.sla-ok`));
    assert.match(await text(page, `${item} .ticket-bottom`), /payments · ms · /);

    await openTicket(page, reference);
    assert.equal(await page.inputValue('#ticket-category'), 'deposits_withdrawals');
    const facts = await text(page, '#ticket-facts');
    assert.match(facts, /Team payments/);
    assert.match(facts, /Language Malay/);
    assert.match(facts, /rule money/);
    assert.match(facts, /First reply in (59 min|1 h)/);
    assert.match(facts, /Resolution in (23 h 59 min|1 d)/);

    // Articles in the customer's language, best first.
    await page.waitForSelector('.suggestions-panel:not([hidden])');
    await page.click('.suggestions-panel summary');
    const first = await text(page, '#suggestions li:first-child a');
    assert.equal(first, 'Kenapa pengeluaran saya masih Pending?');

    // A canned reply, filled in for this customer, in Malay, where the cursor is.
    await page.waitForSelector('#canned option[value="0"]', { state: 'attached' });
    assert.equal(await text(page, '#canned option[value="0"]'), 'Withdrawal delayed (ms)');
    await page.selectOption('#canned', '0');
    assert.equal(await page.inputValue('#reply-text'),
      `Hai Nurul Aina, pengeluaran anda untuk ${reference} sedang menunggu pengesahan rangkaian. ${AGENTS.gus.name}`);
    await page.click('#suggestions li:first-child button');
    assert.match(await page.inputValue('#reply-text'), /rangkaian\. Gus Agent\nKenapa pengeluaran saya masih Pending\?\nhttps:\/\/help\.example\.com\/ms\/withdrawal-pending$/);
    await screenshot(page, '13-helpdesk-ticket');

    // Another category: the policy that now matches applies, with the time spent kept.
    await page.selectOption('#ticket-category', 'general');
    await waitFor('the general target', async () => /First reply in (3 h 59 min|4 h)/.test(await text(page, '#ticket-facts')));
    const detail = await gateway.api('GET', `/api/v1/tickets/${reference}`, AGENTS.gus.token);
    assert.equal(detail.ticket.category, 'general');
    assert.deepEqual(detail.ticket.sla.map((s) => [s.policy, s.target]), [['general', 'first_response']]);

    // Five hours on: the page shows the target overdue, in red.
    await page.clock.setFixedTime(Date.now() + 5 * 3600_000);
    await page.reload();
    await page.waitForSelector(`#ticket-pane .ticket-header .reference:text("${reference}")`);
    assert.match(await text(page, '#ticket-facts .sla'), /^First reply (1 h|5[89] min) overdue$/);
    assert.ok(await page.$(`${item} .sla.sla-breached`));
    await screenshot(page, '14-sla-overdue');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a seed phrase is removed before the inbox sees it, and the agent is told what happened', async () => {
    const { page, context, problems } = await agentPage(browser, gateway);
    await signIn(page, AGENTS.ada);
    const words = 'abandon ability able about above absent absorb abstract absurd abuse access accident';
    const pushed = await push(`My wallet is empty! My seed phrase is ${words}.`, 'Tan Wei Ming');
    const reference = pushed.ticket_reference;
    const item = `a.ticket[data-reference="${reference}"]`;
    await page.waitForSelector(`${item} .sensitive`);
    assert.equal(await text(page, `${item} .sensitive`), '⚠ secret removed');
    await openTicket(page, reference);
    assert.match(await text(page, '.sensitive-banner'), /^The customer sent a seed phrase\. It was removed before anything was stored/);
    const shown = await page.$$eval('#ticket-pane .message .text', (nodes) => nodes.map((n) => n.textContent));
    assert.equal(shown[0], 'My wallet is empty! My seed phrase is [seed phrase removed].');
    assert.ok(!(await page.content()).includes('abandon ability'), 'the phrase is nowhere on the page');
    // The customer was warned, once, through the channel.
    const warning = await waitFor('the warning at the callback',
      () => gateway.callback.delivered().find((r) => r.ticket.reference === reference));
    assert.match(warning.text, /never ask/i);
    await screenshot(page, '15-secret-removed');
    assert.deepEqual(problems, []);
    await context.close();
  });
});
