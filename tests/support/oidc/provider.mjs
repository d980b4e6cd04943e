// A real OpenID Connect provider (panva's oidc-provider) for the console's SSO tests and `gateway demo --sso`.
//
// Usage: node provider.mjs CONFIG.json
// CONFIG: {"issuer": "http://127.0.0.1:PORT", "port": PORT, "users_file": "users.json",
//          "clients": [{"client_id", "client_secret", "redirect_uris", "post_logout_redirect_uris"}],
//          "id_token_ttl": 3600}
// users.json: [{"id", "username", "password", "email", "email_verified", "name", "groups", "amr", "acr",
//               "disabled"}] — read again at every sign-in and token, so a test disables a user by
// rewriting the file, as an agency's joiner/leaver process would at its real provider.
// Prints "ready ISSUER" on stdout once it listens. Listens on 127.0.0.1 only. Signing keys are generated
// at start and never written anywhere.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parse } from 'node:querystring';

import Provider, { interactionPolicy } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function users() {
  return JSON.parse(readFileSync(config.users_file, 'utf8'));
}

function activeUser(id) {
  return users().find((u) => u.id === id && !u.disabled);
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;
}

function loginForm(uid, error) {
  return page('Agency sign-in', `${error ? `<p role="alert" id="idp-error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
  <label>Username <input name="username" id="idp-username" autocomplete="username"></label>
  <label>Password <input name="password" id="idp-password" type="password" autocomplete="current-password"></label>
  <button type="submit" id="idp-submit">Sign in</button>
</form>`);
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

// A provider session whose account was disabled since asks for the login again (as Keycloak or Entra ID end
// a disabled user's sessions), and the login form refuses a disabled account.
const { Check, base } = interactionPolicy;
const policy = base();
policy.get('login').checks.add(new Check('account_gone', 'the account is disabled or gone', (ctx) => (
  ctx.oidc.session.accountId && !ctx.oidc.account ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT)));

const provider = new Provider(config.issuer, {
  clients: config.clients.map((c) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...c,
  })),
  jwks: { keys: [{ ...rsa, kid: randomUUID(), use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    // acr and amr say how the user signed in at the provider (pwd, otp): a node may require MFA proof.
    openid: ['sub', 'acr', 'amr', 'auth_time'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  // The console reads the groups from the ID token, as with Entra ID's and Keycloak's group claims.
  conformIdTokenClaims: false,
  ttl: { IdToken: config.id_token_ttl ?? 3600, AccessToken: 600, AuthorizationCode: 60, Session: 3600 },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  interactions: { policy, url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const user = activeUser(id);
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: user.email,
          email_verified: Boolean(user.email_verified),
          name: user.name,
          preferred_username: user.username,
          groups: user.groups ?? [],
        };
      },
    };
  },
  // First-party client: no consent screen; the grant covers what the client asked for.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope ?? 'openid');
    grant.addOIDCClaims(['email', 'email_verified', 'name', 'preferred_username', 'groups']);
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
provider.on('server_error', (ctx, err) => { process.stderr.write(`server_error: ${err.stack}\n`); });

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(loginForm(uid));
    return;
  }
  if (action !== '/login') throw new Error('unknown interaction step');
  const body = await new Promise((resolve) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(parse(data)));
  });
  const user = users().find((u) => u.username === body.username && u.password === body.password);
  if (!user || user.disabled) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(loginForm(uid, user ? 'This account is disabled.' : 'Wrong username or password.'));
    return;
  }
  await provider.interactionFinished(req, res, {
    login: { accountId: user.id, acr: user.acr ?? 'urn:test:pwd', amr: user.amr ?? ['pwd'] },
  }, { mergeWithLastSubmission: false });
}

const handler = provider.callback();
const server = createServer(async (req, res) => {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(req.url.split('?')[0]);
  if (!match) {
    handler(req, res);
    return;
  }
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (err) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${err.message}`);
  }
});

server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${config.issuer}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
// Started with a pipe on stdin: when the process that started it goes away, so does the provider.
if (process.env.OIDC_PROVIDER_WATCH_STDIN === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
