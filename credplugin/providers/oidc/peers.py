"""int128/kubelogin's `get-token` arguments, read as `credplugin oidc` options (peerargs).

`kubectl oidc-login get-token ...`, `kubectl-oidc_login get-token ...` and Homebrew's
`kubelogin get-token ...` keep working as `credplugin oidc [oidc-login] get-token ...`. The
flags are int128's pkg/cmd/{get_token,authentication,tls,pkce,tokencache}.go (v1.36.3), its
klog flags, and --listen-port, removed in v1.32 but still in old kubeconfigs. Flags spelled as
ours (`--oidc-issuer-url`, `--username`, `--skip-open-browser`...) need no entry here.

The redirect URI is one of int128's defaults: without --oidc-redirect-url it sends
`http://localhost:<the port it bound>`, no path (int128/oauth2cli server.go, v1.18.0), which
is our `--redirect-url http://localhost`. An identity provider that compares redirect URIs
exactly (Keycloak, Dex, Okta) refuses our own `http://127.0.0.1:<port>/` for a client
registered for int128.
"""

from __future__ import annotations

import binascii

from credplugin.errors import UsageError
from credplugin.peerargs import (
    KLOG_OTHERS,
    KLOG_VERBOSITY,
    SWITCH,
    VALUE,
    Dialect,
    Flag,
    Translation,
    each,
    expand_home,
    hold,
    ignored,
    refused,
    same,
    split_csv,
    string_to_string,
)

# The hosts credplugin's login listener binds (credplugin.flows.loopback.LOOPBACK_HOSTS,
# not imported: it loads the HTTP server, which only a login needs).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# int128's redirect URI when none is given: http://localhost:<bound port> (see above).
INT128_REDIRECT = "http://localhost"
PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n")


def _loopback(spelling: str, address: str) -> None:
    host = address.rpartition(":")[0]
    if host not in LOOPBACK_HOSTS:
        raise UsageError(
            f"{spelling} {address} is not supported: credplugin binds its login listener to "
            "loopback only (127.0.0.1, ::1), where no other host can answer the redirect",
            hint="use 127.0.0.1:PORT (credplugin runs on the host, never in a container)",
        )


def _listen_port(t: Translation, spelling: str, value: str) -> None:
    """--listen-port 8000,18000 (int128 < 1.32): ports on 127.0.0.1."""
    for port in split_csv(spelling, value):
        if not port.isdigit():
            raise UsageError(f"{spelling} {port!r} is not a port number")
        t.set("listen-address", f"127.0.0.1:{int(port)}")


def _token_cache_dir(t: Translation, spelling: str, value: str) -> None:
    # int128 expands a leading ~ itself: `--token-cache-dir=~/...` reaches it unexpanded.
    t.set("cache-dir", expand_home(value, t.environ))


def _token_cache_storage(t: Translation, spelling: str, value: str) -> None:
    if value == "none":
        t.switch("no-cache", True)
    elif value not in ("disk", "keyring"):
        raise UsageError(f"{spelling} {value!r} is not one of disk, keyring, none")
    elif t.knows("token-store"):
        # int128 keeps its tokens in the keyring or on disk; so does our --token-store.
        t.set("token-store", "keyring" if value == "keyring" else "file")
    elif value == "disk":
        t.drop(f"{spelling}={value}", "credplugin's cache is on disk (0600 files)")
    else:
        raise UsageError(
            f"{spelling}=keyring is not supported: credplugin has no keyring token store yet",
            hint="remove it to use credplugin's own cache (0600 files in a 0700 directory), "
            "or keep int128 kubelogin for this entry",
        )


def _pkce_method(t: Translation, spelling: str, value: str) -> None:
    if value in ("auto", "S256"):
        t.drop(f"{spelling}={value}", "credplugin always sends PKCE S256")
    elif value == "no":
        raise UsageError(
            f"{spelling}=no is not supported: credplugin always uses PKCE (S256), which an "
            "OpenID provider ignores if it does not know it",
            hint="remove it",
        )
    else:
        raise UsageError(f"{spelling} {value!r} is not one of auto, no, S256")


def _grant_type(t: Translation, spelling: str, value: str) -> None:
    # `auto` depends on --username, which may come later: the finish decides.
    t.hold("grant-type", value)


def _extra_params(t: Translation, spelling: str, value: str) -> None:
    # `kubectl oidc-login setup` prints this map flag with pflag's String(): [k=v,k2=v2]. int128
    # then reads it back as the key "[k" (a bug); what the brackets hold is what was meant.
    if value.startswith("[") and value.endswith("]"):
        t.notes.append(f"{spelling}={value}: read without the brackets `setup` printed")
        value = value[1:-1]
    for key, item in string_to_string(spelling, value):
        t.hold("extra-params", f"{key}={item}")


FLAGS = (
    Flag("--oidc-redirect-url", VALUE, same("redirect-url")),
    Flag("--oidc-extra-scope", VALUE, each("extra-scope")),
    Flag("--listen-address", VALUE, each("listen-address", check=_loopback)),
    Flag("--listen-port", VALUE, _listen_port),
    Flag("--authentication-timeout-sec", VALUE, same("authentication-timeout")),
    Flag("--grant-type", VALUE, _grant_type),
    Flag("--oidc-auth-request-extra-params", VALUE, _extra_params),
    Flag("--token-cache-dir", VALUE, _token_cache_dir),
    Flag("--token-cache-storage", VALUE, _token_cache_storage),
    # A StringArray in int128 (several CAs), one file in ours: the finish makes a bundle.
    Flag("--certificate-authority", VALUE, hold("ca-file")),
    Flag("--certificate-authority-data", VALUE, hold("ca-data")),
    Flag(
        "--tls-renegotiation-once --tls-renegotiation-freely",
        SWITCH,
        ignored("OpenSSL already follows a server's secure renegotiation"),
    ),
    Flag("--oidc-pkce-method", VALUE, _pkce_method),
    Flag("--oidc-use-pkce", SWITCH, ignored("credplugin always sends PKCE S256")),
    Flag(
        "--open-url-after-authentication",
        VALUE,
        ignored("the browser tab shows credplugin's own page after a login"),
    ),
    Flag(
        "--password",
        VALUE,
        refused(
            "credplugin never takes a password from its arguments, which other users of the "
            "machine can read",
            "remove it: the password grant asks for it at the terminal",
        ),
    ),
    Flag(
        "--local-server-cert --local-server-key",
        VALUE,
        refused(
            "the login redirect comes back over plain http on loopback (RFC 8252)",
            "remove --local-server-cert and --local-server-key, and register an "
            "http://localhost redirect URI",
        ),
    ),
    Flag(
        "--oidc-request-header",
        VALUE,
        refused(
            "credplugin sends no extra HTTP headers to the issuer yet",
            "keep int128 kubelogin for this entry until it does",
        ),
    ),
    Flag(
        "--oidc-redirect-url-hostname",
        VALUE,
        refused(
            "int128 kubelogin itself removed it in v1.35",
            "pass --oidc-redirect-url http://HOST:8000 and --listen-address 127.0.0.1:8000",
        ),
    ),
    KLOG_VERBOSITY,
    *KLOG_OTHERS,
)


def finish(t: Translation) -> None:
    grant = t.last("grant-type") or ("auto" if t.command else None)
    if grant == "auto":
        # int128: the password grant when a username is given, else the browser (authcode,
        # our default: written only when asked for by name, as natively).
        if t.has("username"):
            t.set("grant-type", "password")
    elif grant is not None:
        t.set("grant-type", grant)
    # int128 reads an empty --oidc-redirect-url as none given.
    if t.command and t.get("grant-type") in (None, "authcode") and not t.get("redirect-url"):
        t.set("redirect-url", INT128_REDIRECT)
    # A map in int128: a key given twice keeps its last value.
    params: dict[str, str] = {}
    for pair in t.held.get("extra-params", []):
        key, _, value = pair.partition("=")
        params.pop(key, None)
        params[key] = value
    for key, value in params.items():
        t.set("auth-request-extra-params", f"{key}={value}")
    _certificate_authority(t)


def _certificate_authority(t: Translation) -> None:
    """int128 trusts every --certificate-authority file and --certificate-authority-data;
    credplugin takes one CA file. One file is passed on as it is; anything else becomes one
    bundle file in the cache directory, named by its content (written once, private)."""
    files = [expand_home(path, t.environ) for path in t.held.get("ca-file", [])]
    datas = t.held.get("ca-data", [])
    if not datas and len(files) <= 1:
        if files:
            t.set("certificate-authority", files[0])
        return
    pems = [_read_pem(path) for path in files] + [_decode_pem(data) for data in datas]
    t.set("certificate-authority", _bundle(t, b"".join(pem.rstrip(b"\n") + b"\n" for pem in pems)))


def _read_pem(path: str) -> bytes:
    from credplugin.errors import os_reason

    try:
        with open(path, "rb") as handle:
            data = handle.read(1 << 20)
    except OSError as exc:
        raise UsageError(f"--certificate-authority {path}: {os_reason(exc)}") from None
    if PEM_CERTIFICATE not in data:
        raise UsageError(f"--certificate-authority {path}: no PEM certificate in it")
    return data


def _decode_pem(data: str) -> bytes:
    if not set(data) <= _BASE64:
        pem = b""
    else:
        try:
            pem = binascii.a2b_base64(data)
        except binascii.Error:
            pem = b""
    if PEM_CERTIFICATE not in pem:
        raise UsageError(
            "--certificate-authority-data is not a base64-encoded PEM certificate",
            hint="give what `base64 -w0 ca.pem` prints",
        )
    return pem


def _bundle(t: Translation, pem: bytes) -> str:
    from credplugin import privatefile
    from credplugin.cache import CacheStore, CacheUnavailable, default_dir
    from credplugin.errors import os_reason
    from credplugin.hotpath import sha256

    directory = t.get("cache-dir") or default_dir(t.environ)
    path = f"{directory}/ca-{sha256(pem).hexdigest()[:32]}.pem"
    try:
        with open(path, "rb") as handle:
            if handle.read(len(pem) + 1) == pem:
                return path
    except OSError:
        pass  # not there yet (or unreadable): written below
    try:
        CacheStore(directory).ensure_directory()
        privatefile.write(path, pem)
    except (CacheUnavailable, OSError) as exc:
        reason = exc.message if isinstance(exc, CacheUnavailable) else os_reason(exc)
        raise UsageError(
            f"cannot keep the certificate authority as a file in {directory}: {reason}",
            hint="save it to a file and pass --certificate-authority FILE",
        ) from None
    return path


DIALECT = Dialect(
    "int128 kubelogin get-token",
    commands=(("get-token",), ("oidc-login", "get-token")),
    flags=FLAGS,
    finish=finish,
)
