#!/usr/bin/env bash
# Installs the Debian packages the keyring tests need for a real, headless Secret Service:
#
#   gnome-keyring    gnome-keyring-daemon (--components=secrets), the Secret Service itself
#   dbus-daemon      dbus-daemon and dbus-run-session, for a private session bus per test
#   libsecret-tools  secret-tool, an independent (libsecret) client to cross-check what the
#                    Python `keyring`/`secretstorage` clients store
#
# No dbus-x11 (dbus-launch is only for X11 autolaunch) and --no-install-recommends (no
# gnome-keyring-pkcs11, no libpam-gnome-keyring, no desktop session pieces).
#
# Idempotent and quiet: does nothing when everything is present; runs `apt-get update` only
# when a package has no install candidate (fresh image, empty lists) or the first install
# fails. Where apt-get is missing, or we are not root and have no password-less sudo, or the
# install fails, it says so in one line and exits 0: the keyring tests then skip with a reason
# (tests/standins/secret_service.py checks for the binaries), and CI on other machines goes on.
# Set KEYRING_DEPS_STRICT=1 to make a failed install exit 1 instead.
set -uo pipefail

PACKAGES=(gnome-keyring dbus-daemon libsecret-tools)
BINARIES=(gnome-keyring-daemon dbus-daemon secret-tool)
WHAT="keyring test dependencies"

say() { echo "install-keyring-test-deps: $*" >&2; }

give_up() {
    say "$1; the keyring tests will be skipped"
    if [[ "${KEYRING_DEPS_STRICT:-0}" == 1 ]]; then exit 1; fi
    exit 0
}

installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
else
    # Not a Debian-like system: nothing to install with, only tell what is absent.
    for b in "${BINARIES[@]}"; do command -v "$b" >/dev/null 2>&1 || missing+=("$b"); done
    if ((${#missing[@]} > 0)); then give_up "no dpkg/apt here (missing: ${missing[*]})"; fi
    exit 0
fi
if ((${#missing[@]} == 0)); then
    exit 0 # everything present: stay silent, cost a few dpkg-query calls
fi

if ! command -v apt-get >/dev/null 2>&1; then
    give_up "no apt-get here (missing: ${missing[*]})"
fi

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        give_up "not root and no password-less sudo to install ${missing[*]}"
    fi
fi

export DEBIAN_FRONTEND=noninteractive
APT=("${SUDO[@]}" apt-get -qq -o=Dpkg::Use-Pty=0 -o=Dpkg::Progress-Fancy=0)
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

has_candidate() {
    local c
    c="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
    [[ -n "$c" && "$c" != "(none)" ]]
}

update() { "${APT[@]}" update >>"$log" 2>&1; }

need_update=0
for p in "${missing[@]}"; do has_candidate "$p" || need_update=1; done
if ((need_update)); then
    update || true
fi

install() { "${APT[@]}" install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; }

if ! install; then
    # Stale lists (a security update moved a version away) are the usual reason: retry once.
    update || true
    if ! install; then
        tail -n 5 "$log" >&2
        give_up "apt-get install ${missing[*]} failed"
    fi
fi
say "installed ${missing[*]} ($WHAT)"
