// A real OpenID Connect provider for the tests: `oidc-provider` (OpenID
// Certified), configured as the citizen portal (Helsenorge-like: pairwise
// `sub`, scope `openid`) and as HelseID (HPR number and assurance level).
//
//   node server.mjs --app http://127.0.0.1:PORT [--channel helsenorge]... [--port 0]
//                   [--portal-key client-key.pem]
//
// With --portal-key, the portal client authenticates with private_key_jwt
// (RFC 7523) under that RSA key's public half, as Helsenorge requires,
// instead of a client secret.
// Prints one line `issuer http://127.0.0.1:N` once it listens, then serves
// until killed. The login page is a plain form: the test (or a browser)
// types one of the test accounts below. Nothing here is production code.
//
// Bad tokens come from the provider's own token endpoint: an account with
// a `test_tamper` claim has its ID token rewritten on the way out (expired,
// another audience, no `sub`, or signed by a second key under the same
// key id), so the relying party sees exactly what a broken or forged
// provider would send.

import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

// stdout carries exactly one line, the issuer; the provider's own notices
// go to stderr.
console.log = console.info = (...a) => console.error(...a);
import * as jose from 'jose';

const { values: args } = parseArgs({
  options: {
    app: { type: 'string' },
    channel: { type: 'string', multiple: true, default: ['helsenorge'] },
    port: { type: 'string', default: '0' },
    'portal-key': { type: 'string' },
  },
});
if (!args.app) {
  console.error('usage: node server.mjs --app http://127.0.0.1:PORT [--channel SLUG] [--port N]');
  process.exit(2);
}

const PORTAL_CLIENT = { id: 'mestring-portal', secret: 'portal-test-secret-0123456789abcdef' };
const HELSEID_CLIENT = { id: 'mestring-helseid', secret: 'helseid-test-secret-0123456789abcdef' };

const HID = 'helseid://claims/';

// Test accounts: the id is what the login form takes; the claims are what
// the provider releases in the ID token (scope `openid` carries them all,
// as a careless portal configuration would).
const ACCOUNTS = {
  // Citizens.
  'citizen-1': {},
  'citizen-2': {},
  'with-pid': { pid: '01017012345' },
  'with-fnr': { fodselsnummer: '01017012345' },
  'with-name': { name: 'Kari Nordmann' },
  'with-given-name': { given_name: 'Kari' },
  'representing': { 'hn:representation': 'parent' },
  'tamper-expired': { test_tamper: 'expired' },
  'tamper-audience': { test_tamper: 'audience' },
  'tamper-nosub': { test_tamper: 'nosub' },
  'tamper-badsig': { test_tamper: 'badsig' },
  'tamper-issuer': { test_tamper: 'issuer' },
  'tamper-nonce': { test_tamper: 'nonce' },
  // Clinicians (HelseID). The pid is sent as HelseID may send it; the
  // platform must never store it.
  'clinician-ok': {
    [`${HID}hpr/hpr_number`]: '1234567',
    [`${HID}identity/assurance_level`]: 'substantial',
    [`${HID}identity/pid`]: '02028054321',
    [`${HID}client/claims/orgnr_parent`]: '999888777',
  },
  'clinician-high': {
    [`${HID}hpr/hpr_number`]: '7654321',
    [`${HID}identity/assurance_level`]: 'high',
    [`${HID}client/claims/orgnr_parent`]: '999888777',
  },
  'clinician-low': {
    [`${HID}hpr/hpr_number`]: '1234567',
    [`${HID}identity/assurance_level`]: 'low',
    [`${HID}client/claims/orgnr_parent`]: '999888777',
  },
  'clinician-unknown': {
    [`${HID}hpr/hpr_number`]: '5555555',
    [`${HID}identity/assurance_level`]: 'high',
    [`${HID}client/claims/orgnr_parent`]: '999888777',
  },
  'clinician-other-org': {
    [`${HID}hpr/hpr_number`]: '1234567',
    [`${HID}identity/assurance_level`]: 'high',
    [`${HID}client/claims/orgnr_parent`]: '111222333',
  },
  'clinician-no-hpr': {
    [`${HID}identity/assurance_level`]: 'high',
    [`${HID}client/claims/orgnr_parent`]: '999888777',
  },
};

const RELEASED = [...new Set(Object.values(ACCOUNTS).flatMap((c) => Object.keys(c)))];

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const { privateKey: rogueKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), kid: 'test-key-1', use: 'sig', alg: 'RS256' };

const server = createServer();
await new Promise((resolve) => server.listen(Number(args.port), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const portalAuth = args['portal-key']
  ? {
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: {
        keys: [{ ...createPublicKey(readFileSync(args['portal-key'])).export({ format: 'jwk' }), use: 'sig', alg: 'RS256' }],
      },
    }
  : { client_secret: PORTAL_CLIENT.secret, token_endpoint_auth_method: 'client_secret_basic' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: PORTAL_CLIENT.id,
      ...portalAuth,
      redirect_uris: args.channel.map((c) => `${args.app}/launch/${c}/callback`),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      subject_type: 'pairwise',
    },
    {
      client_id: HELSEID_CLIENT.id,
      client_secret: HELSEID_CLIENT.secret,
      redirect_uris: [`${args.app}/staff/login/helseid/callback`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [jwk] },
  cookies: { keys: ['mestring-test-provider-cookie-key'] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  scopes: ['openid', 'helseid://scopes/identity/assurance_level', 'helseid://scopes/hpr/hpr_number'],
  claims: { openid: ['sub', ...RELEASED] },
  conformIdTokenClaims: false,
  subjectTypes: ['public', 'pairwise'],
  async pairwiseIdentifier(ctx, accountId, client) {
    return createHash('sha256').update(`${client.sectorIdentifier}|${accountId}|test-salt`).digest('hex');
  },
  async findAccount(ctx, id) {
    if (!(id in ACCOUNTS)) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...ACCOUNTS[id] }) };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Feil', `<h1>Feil hos identitetstilbyderen</h1><p>${escape(out.error)}: ${escape(out.error_description)}</p>`);
  },
});
provider.proxy = false;

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><main>${body}</main></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function tamper(idToken) {
  const claims = jose.decodeJwt(idToken);
  const mode = claims.test_tamper;
  if (!mode) return idToken;
  delete claims.test_tamper;
  const now = Math.floor(Date.now() / 1000);
  let key = privateKey;
  if (mode === 'expired') {
    claims.iat = now - 7200;
    claims.exp = now - 3600;
  } else if (mode === 'audience') {
    claims.aud = 'someone-else';
  } else if (mode === 'nosub') {
    delete claims.sub;
  } else if (mode === 'issuer') {
    claims.iss = 'https://evil.example';
  } else if (mode === 'nonce') {
    claims.nonce = 'not-the-nonce-that-was-sent';
  } else if (mode === 'badsig') {
    key = rogueKey;
  }
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' }).sign(key);
}

// The login page and the tampering of ID tokens, around the provider.
provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([\w-]+)$/);
  if (m && ctx.method === 'GET') {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.type = 'html';
    ctx.body = page(
      'Logg inn (testleverandør)',
      `<h1>Logg inn hos testleverandøren</h1>
<p>Klient: ${escape(details.params.client_id)}</p>
<form method="post" action="/interaction/${escape(details.uid)}">
<label for="account">Testkonto</label>
<input id="account" name="account" autocomplete="off" required>
<button type="submit">Logg inn</button>
</form>`,
    );
    return;
  }
  if (m && ctx.method === 'POST') {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const form = await readForm(ctx.req);
    const accountId = form.get('account') ?? '';
    if (!(accountId in ACCOUNTS)) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = page('Ukjent konto', '<h1>Ukjent testkonto</h1>');
      return;
    }
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    await provider.interactionFinished(
      ctx.req,
      ctx.res,
      { login: { accountId }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
    ctx.respond = false;
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token) };
  }
});

server.on('request', provider.callback());
process.stdout.write(`issuer ${issuer}\n`);
