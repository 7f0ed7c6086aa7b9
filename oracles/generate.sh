#!/usr/bin/env bash
# Makes the bounce analyser's golden files with real MTAs: each MTA relays one message per
# scenario to a scripted SMTP peer and returns its bounce (see generate.py). Everything runs in
# a private network namespace (loopback only) and a private mount namespace, where a bind mount
# gives the MTAs a resolv.conf naming the generator's own DNS server: nothing of the host's
# mail or DNS configuration is touched. Needs root (namespaces, port 25).
#   oracles/generate.sh [postfix,exim,opensmtpd,sendmail,courier]   (default: all five)
#   oracles/generate.sh --fetch [MTAS]   only fetch and unpack the MTAs and check that they run
#   ORACLES_ONLY=25,26 oracles/generate.sh [MTAS]   only these scenarios (new ones: the other
#   golden files stay as committed)
# A full run (all five, every scenario) writes its day to oracles/last-full-run. A scenario that
# gives no bounce fails the run.
# Postfix comes from Debian's package (installed); Exim, OpenSMTPD and Sendmail conflict with it
# as packages (each provides mail-transport-agent), so their .debs are fetched with
# `apt-get download` and unpacked into a cache, never installed.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
fetch_only=false
if [ "${1:-}" = "--fetch" ]; then
  fetch_only=true
  shift
fi
all_mtas=postfix,exim,opensmtpd,sendmail,courier
mtas="${1:-$all_mtas}"
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
# Courier: the daemon and its modules, the authentication library it links, its auto-responder
# (mailbot, from maildrop) and the libraries the host may lack (its paths are compiled in:
# generate.py overlays the unpacked /usr).
case ",$mtas," in *,courier,*)
  unpack courier-mta courier-base courier-authlib maildrop libcourier-unicode4 libgamin0 libidn12
  ;;
esac
# Sendmail: the daemon, its m4 configuration kit, m4 to build sendmail.cf, and liblockfile (found
# through LD_LIBRARY_PATH). Its vacation(1) is also the auto-responder of Postfix and OpenSMTPD.
case ",$mtas," in *,postfix,* | *,opensmtpd,* | *,sendmail,*)
  unpack sendmail-bin sendmail-cf liblockfile1 m4
  ;;
esac

# Each unpacked binary must find its libraries (a missing one shows here, not as an empty run).
check() {
  local root="$cache/root" bins=() bin missing
  case ",$mtas," in *,exim,*) bins+=(usr/sbin/exim4) ;; esac
  case ",$mtas," in *,opensmtpd,*) bins+=(usr/sbin/smtpd usr/sbin/smtpctl) ;; esac
  case ",$mtas," in *,courier,*)
    bins+=(usr/lib/courier/courier/courierd usr/lib/courier/courier/modules/esmtp/courieresmtp
      usr/sbin/couriertcpd usr/sbin/courier usr/bin/mailbot)
    ;;
  esac
  case ",$mtas," in *,postfix,* | *,opensmtpd,* | *,sendmail,*)
    bins+=(usr/libexec/sendmail/sendmail usr/libexec/sendmail/vacation.sendmail usr/bin/m4)
    ;;
  esac
  for bin in "${bins[@]}"; do
    [ -x "$root/$bin" ] || { echo "$root/$bin is missing" >&2; return 1; }
    missing="$(LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu:$root/usr/lib" ldd "$root/$bin" | grep 'not found' || true)"
    [ -z "$missing" ] || { echo "$bin: $missing" >&2; return 1; }
  done
}
if ! check; then
  echo "an unpacked MTA does not run (see above); remove $cache to fetch again" >&2
  exit 1
fi
if $fetch_only; then
  echo "oracle MTAs ready in $cache/root ($mtas)"
  exit 0
fi

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
add_user opensmtpd 64991
add_user opensmtpq 64992
add_user courier 64994
# The user whose mail the auto-responder answers (OpenSMTPD delivers to local users only).
add_user away 64993
# The auto-responders send with /usr/sbin/sendmail: in the namespace that is the generator,
# handing the reply over SMTP to the MTA under test.
cp "$repo/oracles/generate.py" "$work/generate.py"
printf '#!/bin/sh\nexec /usr/bin/python3 %s/generate.py --submit "$@"\n' "$work" >"$work/submit"
chmod 755 "$work/submit"
unshare --mount --net --uts -- sh -c '
  mount --bind "$1/resolv.conf" /etc/resolv.conf
  mount --bind "$1/submit" /usr/sbin/sendmail
  mount --bind "$1/passwd" /etc/passwd
  mount --bind "$1/group" /etc/group
  exec python3 "$2/oracles/generate.py" --out "$3" --work "$1" --cache "$1" --mta "$5" --only "$6"
' sh "$work" "$repo" "$out" "$cache" "$mtas" "${ORACLES_ONLY:-}"
# The day of the last full run: `.ci/run` makes the bounces again when it is a week old.
if [ -z "${ORACLES_ONLY:-}" ] && [ "$mtas" = "$all_mtas" ]; then
  date -u +%F >"$repo/oracles/last-full-run"
fi
