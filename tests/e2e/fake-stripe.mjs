// A fake Stripe for the browser test of /buy: the subset of Stripe's API
// the platform uses (create and read a Checkout Session) and a stand-in for
// Stripe's hosted payment page. "Pay" marks the session paid, posts a
// signed `checkout.session.completed` to the platform's webhook (HMAC-SHA256
// over `t.payload`, as Stripe signs), then redirects to the success URL.
// Every request is recorded, so the test can check that none carried the
// code. The Rust suite has its own fake (tests/it/fake_stripe.rs).

import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';

function sessionJson(s) {
  return {
    id: s.id,
    object: 'checkout.session',
    amount_subtotal: s.amount,
    amount_total: s.amount,
    automatic_tax: { enabled: false, liability: null, status: null },
    cancel_url: s.cancelUrl,
    created: Math.floor(Date.now() / 1000),
    currency: 'nok',
    custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer: null,
    customer_email: s.customerEmail,
    expires_at: Math.floor(Date.now() / 1000) + 86_400,
    livemode: false,
    mode: 'payment',
    payment_intent: s.paymentIntent,
    payment_method_types: ['card'],
    payment_status: s.paid ? 'paid' : 'unpaid',
    shipping_options: [],
    status: s.paid ? 'complete' : 'open',
    success_url: s.successUrl,
    url: s.paid ? null : s.url,
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/**
 * Starts the fake on a free port. Returns `{ baseUrl, requests, sessions,
 * setWebhook(url, secret), close() }`.
 */
export async function startFakeStripe() {
  const requests = [];
  const sessions = new Map();
  let webhook = null;
  let baseUrl = '';

  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    const url = new URL(req.url, baseUrl);
    requests.push({ method: req.method, path: req.url, body });
    const send = (status, obj) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    const parts = url.pathname.split('/').filter(Boolean);
    if (req.method === 'POST' && url.pathname === '/v1/checkout/sessions') {
      const form = new URLSearchParams(body);
      for (const key of form.keys()) {
        if (/^(customer|client_reference_id|metadata)(\[|$)/.test(key)) {
          send(400, { error: { type: 'invalid_request_error', message: `fake refuses ${key}` } });
          return;
        }
      }
      const id = `cs_test_${randomBytes(12).toString('hex')}`;
      const s = {
        id,
        amount: Number(form.get('line_items[0][price_data][unit_amount]')),
        product: form.get('line_items[0][price_data][product_data][name]'),
        successUrl: form.get('success_url'),
        cancelUrl: form.get('cancel_url'),
        customerEmail: form.get('customer_email'),
        url: `${baseUrl}/pay/${id}`,
        paid: false,
        paymentIntent: null,
      };
      sessions.set(id, s);
      send(200, sessionJson(s));
      return;
    }
    if (req.method === 'GET' && parts[0] === 'v1' && parts[1] === 'checkout' && parts[2] === 'sessions') {
      const s = sessions.get(parts[3]);
      if (s) send(200, sessionJson(s));
      else send(404, { error: { type: 'invalid_request_error', message: 'No such checkout.session' } });
      return;
    }
    if (parts[0] === 'pay' && sessions.has(parts[1])) {
      const s = sessions.get(parts[1]);
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(
          `<!doctype html><html lang="en"><head><title>Fake Stripe</title></head><body><main>` +
            `<h1>Pay NOK ${s.amount / 100} for ${s.product}</h1>` +
            `<form method="post" action="/pay/${s.id}"><button type="submit" id="pay">Pay</button></form>` +
            `<p><a id="cancel" href="${s.cancelUrl}">Cancel</a></p></main></body></html>`,
        );
        return;
      }
      // POST: paid; tell the platform (signed), then back to it.
      s.paid = true;
      s.paymentIntent = `pi_test_${randomBytes(8).toString('hex')}`;
      if (webhook) {
        const event = JSON.stringify({
          id: `evt_test_${randomBytes(8).toString('hex')}`,
          object: 'event',
          api_version: '2026-09-30.endive',
          created: Math.floor(Date.now() / 1000),
          livemode: false,
          pending_webhooks: 1,
          request: { id: null, idempotency_key: null },
          type: 'checkout.session.completed',
          data: { object: sessionJson(s) },
        });
        const t = Math.floor(Date.now() / 1000);
        const v1 = createHmac('sha256', webhook.secret).update(`${t}.${event}`).digest('hex');
        const answer = await fetch(webhook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${v1}` },
          body: event,
        });
        webhook.statuses.push(answer.status);
      }
      res.writeHead(303, { location: s.successUrl.replace('{CHECKOUT_SESSION_ID}', s.id) });
      res.end();
      return;
    }
    send(404, { error: { type: 'invalid_request_error', message: 'unknown path' } });
  });

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${server.address().port}`;
  return {
    baseUrl,
    requests,
    sessions,
    webhookStatuses: () => webhook?.statuses ?? [],
    setWebhook(url, secret) {
      webhook = { url, secret, statuses: [] };
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
