// A real OpenID provider for credplugin's tests: node-oidc-provider on 127.0.0.1.
//
//   node provider.mjs [PORT]     prints "READY <issuer>" once it listens
//
// One public native client (PKCE required, any loopback port per RFC 8252), device flow,
// refresh tokens always issued and rotated (reusing an old one revokes the grant, as many real
// IdPs do). Environment: OIDC_TTL_ID / OIDC_TTL_ACCESS (seconds) shorten token lifetimes.
// The dev login/consent pages accept any login and password.
import http from 'node:http';
import Provider from 'oidc-provider';

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.argv[2] || 0), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
const ttl = (name, fallback) => Number(process.env[name] || fallback);
// OIDC_EXACT_REDIRECT_URIS (space-separated): also a client `kubectl-exact` that takes only
// these redirect URIs, byte for byte, as Keycloak, Dex and Okta compare them (a web client:
// no RFC 8252 leeway on the port of a loopback URI, which native clients get here).
const exactRedirectUris = (process.env.OIDC_EXACT_REDIRECT_URIS || '').split(' ').filter(Boolean);
const exactClients = exactRedirectUris.length === 0 ? [] : [
  {
    client_id: 'kubectl-exact',
    application_type: 'web',
    token_endpoint_auth_method: 'none',
    redirect_uris: exactRedirectUris,
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
  },
];

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'kubectl',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['http://127.0.0.1/', 'http://127.0.0.1/callback'],
      response_types: ['code'],
      grant_types: [
        'authorization_code',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code',
      ],
    },
    {
      client_id: 'robot',
      client_secret: 'robot-secret-value',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    },
    ...exactClients,
  ],
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'], groups: ['groups'] },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
  },
  issueRefreshToken: async () => true,
  rotateRefreshToken: () => true,
  conformIdTokenClaims: false,
  ttl: {
    IdToken: ttl('OIDC_TTL_ID', 3600),
    AccessToken: ttl('OIDC_TTL_ACCESS', 3600),
    ClientCredentials: ttl('OIDC_TTL_ACCESS', 3600),
    DeviceCode: ttl('OIDC_TTL_DEVICE', 600),
  },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({
      sub,
      name: sub,
      email: `${sub}@example.test`,
      email_verified: true,
      groups: ['devs'],
    }),
  }),
  cookies: { keys: ['credplugin-test-only-cookie-key'] },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
server.on('request', provider.callback());
console.log(`READY ${issuer}`);
