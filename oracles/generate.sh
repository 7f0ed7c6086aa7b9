#!/usr/bin/env bash
# Makes the bounce analyser's golden files with real MTAs: each MTA relays one message per
# scenario to a scripted SMTP peer and returns its bounce (see generate.py). Everything runs in
# a private network namespace (loopback only) and a private mount namespace, where a bind mount
# gives the MTAs a resolv.conf naming the generator's own DNS server: nothing of the host's
# mail or DNS configuration is touched. Needs root (namespaces, port 25).
#   oracles/generate.sh [postfix,exim]   (default: both)
# Postfix comes from Debian's package (installed); Exim (and OpenSMTPD) conflict with it as
# packages, so their .debs are fetched with `apt-get download` and unpacked into a cache.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mtas="${1:-postfix,exim}"
out="$repo/crates/bounce/tests/golden"
cache="${ORACLES_CACHE:-$HOME/.cache/hikyaku-oracles}"
work="$(mktemp -d /tmp/oracles.XXXXXX)"
chmod 755 "$work" # the MTAs drop to their own users
trap '[ -n "${ORACLES_KEEP:-}" ] || rm -rf "$work"' EXIT

command -v postfix >/dev/null || [ -x /usr/sbin/postfix ] || {
  echo "postfix is missing (apt-get install postfix)" >&2
  exit 1
}
python3 -c 'import dns.message' 2>/dev/null || {
  echo "python3 dnspython is missing (apt-get install python3-dnspython or pip install dnspython)" >&2
  exit 1
}

# Unpack the packages an MTA needs (and the libraries the host may lack) into the cache.
unpack() {
  local root="$cache/root" pkg
  mkdir -p "$cache/debs" "$root"
  for pkg in "$@"; do
    if ! ls "$cache/debs/${pkg}_"*.deb >/dev/null 2>&1; then
      (cd "$cache/debs" && apt-get download "$pkg" >/dev/null)
    fi
    dpkg-deb -x "$cache/debs/${pkg}_"*.deb "$root"
  done
}
# Exim re-executes itself with a cleaned environment (no LD_LIBRARY_PATH): the one library
# the host may lack is installed as a package (a library only, no configuration).
case ",$mtas," in *,exim,*)
  unpack exim4-daemon-light exim4-base exim4-config
  [ -e /usr/lib/x86_64-linux-gnu/libidn.so.12 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libidn12 >/dev/null
  ;;
esac
case ",$mtas," in *,opensmtpd,*) unpack opensmtpd ;; esac

# The MTAs drop root and re-execute themselves: their files must be where they can reach.
if [ -d "$cache/root" ]; then cp -a "$cache/root" "$work/root"; fi
echo "nameserver 127.0.2.53" >"$work/resolv.conf"
# The users the unpacked MTAs expect (their packages' maintainer scripts would add them), in
# private copies of passwd and group that only the namespace sees.
cp /etc/passwd "$work/passwd"
cp /etc/group "$work/group"
add_user() {
  grep -q "^$1:" "$work/passwd" || echo "$1:x:$2:$2::/nonexistent:/usr/sbin/nologin" >>"$work/passwd"
  grep -q "^$1:" "$work/group" || echo "$1:x:$2:" >>"$work/group"
}
add_user Debian-exim 64990
add_user _smtpd 64991
add_user _smtpq 64992
unshare --mount --net -- sh -c '
  mount --bind "$1/resolv.conf" /etc/resolv.conf
  mount --bind "$1/passwd" /etc/passwd
  mount --bind "$1/group" /etc/group
  exec python3 "$2/oracles/generate.py" --out "$3" --work "$1" --cache "$1" --mta "$5"
' sh "$work" "$repo" "$out" "$cache" "$mtas"
