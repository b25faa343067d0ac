"""int128/kubelogin `get-token` (`kubectl oidc-login`, `kubectl-oidc_login`, Homebrew's
`kubelogin`) -> `oidc`.

What a login sends must stay what it was, or the identity provider refuses it: the redirect
URI (int128 sends `http://localhost:<bound port>` by default, which credplugin sends for
`--redirect-url http://localhost`; its own default is `http://127.0.0.1:<port>/`), the extra
request parameters and where they go, the scopes. Where credplugin cannot send the same
thing, the entry is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping

from credplugin.errors import UsageError
from credplugin.flows.loopback import parse_listen_address
from credplugin.peers.argv import KLOG_FLAGS, Args, Flag, parse, string_to_string
from credplugin.peers.model import Conversion, Site, Unconvertible, decode_pem_data
from credplugin.providers.oidc.fetch import RESERVED_PARAMS
from credplugin.providers.oidc.peers import INT128_REDIRECT

_NO_EFFECT = "no effect on the credential"
BROWSER_GRANTS = ("authcode", "device-code")
LOGIN_HINT_PARAM = "login_hint"
# The flags about the login page, and those each grant of int128 uses.
PAGE_FLAGS_USED = {
    "authcode": frozenset(
        {
            "oidc-redirect-url",
            "oidc-redirect-url-hostname",
            "listen-address",
            "listen-port",
            "authentication-timeout-sec",
            "skip-open-browser",
            "browser-command",
        }
    ),
    "authcode-keyboard": frozenset({"oidc-redirect-url", "oidc-redirect-url-authcode-keyboard"}),
    "device-code": frozenset({"skip-open-browser", "browser-command"}),
}
PAGE_FLAGS = frozenset().union(*PAGE_FLAGS_USED.values())
# --oidc-redirect-url-hostname H (int128 < v1.35) sent http://H:<bound port>: for these
# hosts, credplugin's --redirect-url http://H does the same.
REDIRECT_HOSTNAMES = ("localhost", "127.0.0.1")

FLAGS = (
    Flag("oidc-issuer-url"),
    Flag("oidc-client-id"),
    Flag("oidc-client-secret"),
    Flag("oidc-redirect-url"),
    Flag("oidc-extra-scope", comma_list=True),
    Flag("oidc-use-access-token", value=False),
    Flag(
        "oidc-request-header",
        refuse="credplugin oidc has no option to send extra HTTP headers to the issuer",
    ),
    Flag("force-refresh", value=False),
    Flag("token-cache-dir", ignore="credplugin keeps its own token cache"),
    Flag("token-cache-storage"),
    Flag("certificate-authority"),
    Flag("certificate-authority-data"),
    Flag("insecure-skip-tls-verify", value=False),
    Flag(
        "tls-renegotiation-once",
        value=False,
        ignore="credplugin's TLS already accepts a server's secure renegotiation",
    ),
    Flag(
        "tls-renegotiation-freely",
        value=False,
        ignore="credplugin's TLS already accepts a server's secure renegotiation",
    ),
    Flag("oidc-pkce-method"),
    Flag("oidc-use-pkce", value=False, ignore="credplugin always uses PKCE S256"),
    Flag("grant-type"),
    Flag("listen-address", comma_list=True),
    Flag("listen-port", comma_list=True),  # removed in int128 v1.32; old entries have it
    Flag("skip-open-browser", value=False),
    Flag("browser-command"),
    Flag("authentication-timeout-sec"),
    Flag("local-server-cert", refuse="credplugin's loopback redirect is plain http (RFC 8252)"),
    Flag("local-server-key", refuse="credplugin's loopback redirect is plain http (RFC 8252)"),
    Flag("open-url-after-authentication", ignore="only the page shown after the login"),
    Flag("oidc-auth-request-extra-params"),
    Flag("username"),
    Flag(
        "password",
        refuse="credplugin never takes a password from the kubeconfig (its password grant "
        "asks at the terminal)",
    ),
    # Removed in int128 v1.35: old entries still have them.
    Flag("oidc-redirect-url-hostname"),
    Flag("oidc-redirect-url-authcode-keyboard"),
    # klog, the Go logging flags every int128 command takes.
    *KLOG_FLAGS,
)


def is_int128(args: list[str]) -> bool:
    """int128's `get-token`, as opposed to Azure's kubelogin: its flags say `--oidc-`."""
    return any(arg.startswith("--oidc-") for arg in args)


def from_get_token(peer: str, args: list[str], env: Mapping[str, str], site: Site) -> Conversion:
    parsed = parse(args, FLAGS, go=True)
    if parsed.positionals != ["get-token"]:
        raise Unconvertible(f"not `{peer} get-token` ({' '.join(parsed.positionals)})")
    issuer, client_id = parsed.last("oidc-issuer-url"), parsed.last("oidc-client-id")
    if not (issuer and client_id):
        raise Unconvertible("no --oidc-issuer-url or --oidc-client-id (int128 requires both)")
    conversion = Conversion("oidc", peer, dict(env))
    conversion.give("issuer-url", issuer)
    conversion.give("client-id", client_id)
    secret = parsed.last("oidc-client-secret")
    if secret:
        variable = conversion.variable_of("client-secret")
        conversion.move_secret("--oidc-client-secret", secret, variable)
    conversion.give_each("extra-scope", [s for s in parsed.every("oidc-extra-scope") if s])
    grant = _grant(parsed)
    conversion.give("grant-type", grant)
    if grant == "password" and parsed.last("username"):
        conversion.give("username", parsed.last("username") or "")
    elif parsed.last("username"):
        conversion.note(f"--username dropped: int128 ignores it for {grant}")
    if parsed.given("oidc-use-access-token"):
        conversion.give("use-access-token")
    _extra_params(conversion, parsed, grant)
    _tls(conversion, parsed, site)
    _pkce(conversion, parsed)
    _login_page(conversion, parsed, grant)
    _cache(conversion, parsed)
    if parsed.given("force-refresh"):
        conversion.give("force-refresh")
    conversion.verbosity_of_klog(parsed.last("v"))
    conversion.notes += parsed.ignored
    return conversion


def _grant(parsed: Args) -> str:
    grant = parsed.last("grant-type") or "auto"
    if grant == "auto":  # int128: the password grant when a username is given
        return "password" if parsed.last("username") else "authcode"
    return grant


def _extra_params(conversion: Conversion, parsed: Args, grant: str) -> None:
    """pflag StringToString: KEY=VALUE, or a CSV list of them; later keys win."""
    params: dict[str, str] = {}
    for raw in parsed.every("oidc-auth-request-extra-params"):
        value = raw
        if value.startswith("[") and value.endswith("]"):
            # `kubectl oidc-login setup` prints the map as [k=v]; int128 then sends the key
            # "[k" with the value "v]". The user meant k=v.
            value = value[1:-1]
            conversion.note(
                f"--oidc-auth-request-extra-params={raw}: the brackets `oidc-login setup` "
                "prints were removed (int128 sent them as part of the key and value)"
            )
        params.update(string_to_string(value, "oidc-auth-request-extra-params"))
    if not params:
        return
    if grant in ("authcode", "authcode-keyboard"):
        # Our oidc has an option for login_hint (it keys the cache by account): same request.
        hint = params.pop(LOGIN_HINT_PARAM, None)
        if hint is not None:
            conversion.give("login-hint", hint)
        taken = sorted(RESERVED_PARAMS & set(params))
        if taken:  # int128 lets them replace its own; credplugin oidc refuses that
            raise Unconvertible(
                f"--oidc-auth-request-extra-params sets {', '.join(taken)}, which credplugin "
                "oidc sets itself"
            )
        conversion.give_each("auth-request-extra-params", [f"{k}={v}" for k, v in params.items()])
    elif grant == "client-credentials":
        raise Unconvertible(
            "--oidc-auth-request-extra-params with the client-credentials grant: int128 sends "
            "them on the token request, credplugin oidc does not"
        )
    else:
        # int128 sends them with no other grant; ours would on the device authorization.
        conversion.note(f"--oidc-auth-request-extra-params dropped: int128 ignores it for {grant}")


def _tls(conversion: Conversion, parsed: Args, site: Site) -> None:
    files = [site.expand_home(f) for f in parsed.every("certificate-authority") if f]
    data = [d for d in parsed.every("certificate-authority-data") if d]
    if len(files) + (1 if data else 0) > 1:
        raise Unconvertible(
            "several --certificate-authority files, or files and data: credplugin oidc takes "
            "one CA file"
        )
    if files:
        conversion.give("certificate-authority", files[0])
    elif data:
        pems = [decode_pem_data(d, "--certificate-authority-data") for d in data]
        path = conversion.ca_bundle(site, pems, "--certificate-authority-data")
        conversion.give("certificate-authority", path)
    if parsed.given("insecure-skip-tls-verify"):
        conversion.give("insecure-skip-tls-verify")


def _pkce(conversion: Conversion, parsed: Args) -> None:
    method = parsed.last("oidc-pkce-method")
    if method is None:
        return
    if method == "no":
        raise Unconvertible("--oidc-pkce-method=no: credplugin oidc always sends PKCE (S256)")
    if method not in ("auto", "S256"):
        raise Unconvertible(f"--oidc-pkce-method={method!r} is not auto, no or S256")
    conversion.note(f"--oidc-pkce-method={method} dropped: credplugin always uses PKCE S256")


def _login_page(conversion: Conversion, parsed: Args, grant: str) -> None:
    """The redirect, the listener and the browser, as far as int128's grant uses them."""
    redirect = parsed.last("oidc-redirect-url")
    if grant == "authcode":
        conversion.give_each("listen-address", _listen_addresses(parsed))
        # int128 sends http://localhost:<bound port>, no path, when none is given.
        conversion.give("redirect-url", redirect or _hostname_redirect(parsed))
        if parsed.last("authentication-timeout-sec"):
            conversion.give("authentication-timeout", parsed.last("authentication-timeout-sec"))
    elif grant == "authcode-keyboard":
        redirect = redirect or parsed.last("oidc-redirect-url-authcode-keyboard")
        if not redirect:
            raise Unconvertible(
                "authcode-keyboard without --oidc-redirect-url: int128 sends no redirect URI, "
                "credplugin oidc sends urn:ietf:wg:oauth:2.0:oob"
            )
        conversion.give("redirect-url", redirect)
    if grant in BROWSER_GRANTS:
        if parsed.given("skip-open-browser"):
            conversion.give("skip-open-browser")
        if parsed.last("browser-command"):
            conversion.give("browser-command", parsed.last("browser-command"))
    for name in sorted(PAGE_FLAGS - PAGE_FLAGS_USED.get(grant, frozenset())):
        if parsed.given(name):
            conversion.note(f"--{name} dropped: int128 does not use it for {grant}")


def _hostname_redirect(parsed: Args) -> str:
    """The redirect int128 sends without --oidc-redirect-url, as our --redirect-url."""
    hostname = parsed.last("oidc-redirect-url-hostname")
    if not hostname:
        return INT128_REDIRECT
    if hostname not in REDIRECT_HOSTNAMES:
        raise Unconvertible(
            f"--oidc-redirect-url-hostname={hostname}: int128 before v1.35 sent the redirect "
            f"URI http://{hostname}:<port>, which credplugin oidc sends only for localhost and "
            f"127.0.0.1; replace it with --oidc-redirect-url=http://{hostname}:8000 and convert "
            "again"
        )
    return f"http://{hostname}"


def _listen_addresses(parsed: Args) -> list[str]:
    addresses = [a for a in parsed.every("listen-address") if a]
    for port in parsed.every("listen-port"):
        if not port.isdigit():
            raise Unconvertible(f"--listen-port {port!r} is not a port")
        addresses.append(f"127.0.0.1:{port}")
    for address in addresses:
        try:
            parse_listen_address(address)
        except UsageError as exc:
            raise Unconvertible(exc.message) from None
    return addresses


def _cache(conversion: Conversion, parsed: Args) -> None:
    storage = parsed.last("token-cache-storage")
    if storage in (None, "disk"):
        return
    if storage == "none":
        conversion.give("no-cache")
    elif storage == "keyring":
        conversion.note(
            "--token-cache-storage=keyring dropped: credplugin keeps tokens in its own cache "
            "files (0600, ~/.kube/cache/credplugin), not in the keyring"
        )
    else:
        raise Unconvertible(f"--token-cache-storage={storage!r} is not disk, keyring or none")
