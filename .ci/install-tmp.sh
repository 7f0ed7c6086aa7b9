#!/usr/bin/env bash
# CI entry point: installs what the tests need on a machine that has only Rust (the README's
# "Set-up" lists the same), then runs the README's test command. Under CI=true a tool that is
# still missing after the install is a failure, never a skipped test.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hikyaku-target}"
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export CARGO_TERM_COLOR=never
# Every CI run builds a fresh clone: incremental caches would only pile up, one per folder.
export CARGO_INCREMENTAL=0

in_ci() { [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; }
fail_or_warn() {
  if in_ci; then
    echo "error: $*" >&2
    exit 1
  fi
  echo "warning: $* (the tests that need it are skipped)" >&2
}
has() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

apt_updated=false
apt_install() {
  if ! $apt_updated; then
    apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The test runner: cargo-nextest, built from crates.io (no prebuilt download: only the package
# registries are reachable). It gives every test its own process and the time limits and test
# groups of .config/nextest.toml.
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest from crates.io"
  cargo install --locked cargo-nextest
fi

# Real peers for the interop tests: Postfix (postfix, postconf, smtp-sink, smtp-source) and
# swaks, from Debian's packages.
missing=()
for tool in swaks postfix postconf smtp-sink smtp-source; do
  has "$tool" || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing interop tools (missing: ${missing[*]})"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt_install postfix swaks
  for tool in "${missing[@]}"; do
    has "$tool" || fail_or_warn "$tool is still missing after installing postfix and swaks"
  done
fi

# The S/MIME verifier the signing tests check against: Debian's openssl CLI.
if ! has openssl; then
  echo "installing openssl"
  apt_install openssl
  has openssl || fail_or_warn "openssl is still missing after apt-get install openssl"
fi

# The DKIM verifiers the signing tests check against, neither of them ours: Python's dkimpy
# (with PyNaCl for Ed25519) from PyPI, and OpenDKIM from Debian's packages.
if ! python3 -c "import dkim, nacl" >/dev/null 2>&1; then
  echo "installing dkimpy and pynacl"
  if has pip3; then
    pip3 install --quiet dkimpy pynacl || pip3 install --quiet --break-system-packages dkimpy pynacl || true
  else
    apt_install python3-pip
    pip3 install --quiet --break-system-packages dkimpy pynacl || true
  fi
  python3 -c "import dkim, nacl" >/dev/null 2>&1 \
    || fail_or_warn "dkimpy or pynacl is still missing after pip install dkimpy pynacl"
fi
# The webhook receiver of the webhook tests verifies every request with Python's
# standardwebhooks, the specification's reference library (from PyPI).
if ! python3 -c "import standardwebhooks" >/dev/null 2>&1; then
  echo "installing standardwebhooks"
  if ! has pip3; then
    apt_install python3-pip
  fi
  pip3 install --quiet standardwebhooks || pip3 install --quiet --break-system-packages standardwebhooks || true
  python3 -c "import standardwebhooks" >/dev/null 2>&1 \
    || fail_or_warn "standardwebhooks is still missing after pip install standardwebhooks"
fi
if ! has opendkim; then
  echo "installing opendkim"
  apt_install opendkim opendkim-tools
  has opendkim || fail_or_warn "opendkim is still missing after apt-get install opendkim"
fi

# The console's browser test (crates/console/tests/browser.rs): Debian's Chromium, headless,
# driven over WebDriver by chromedriver.
if ! has chromium || ! has chromedriver; then
  echo "installing chromium and chromium-driver"
  apt_install chromium chromium-driver
  for tool in chromium chromedriver; do
    has "$tool" || fail_or_warn "$tool is still missing after apt-get install chromium chromium-driver"
  done
fi

# A CJK font for the same browser: without one, headless Chromium draws the Japanese pages'
# glyphs as empty boxes (the README's screenshots are taken by the browser test).
# fc-list's whole output is read before the test (`grep -q` would stop at the first match and,
# under pipefail, fc-list's broken pipe would fail the check on a machine that has the font).
has_cjk_font() { fc-list : family 2>/dev/null | grep -ci "Noto Sans CJK" >/dev/null; }
if ! has_cjk_font; then
  echo "installing fonts-noto-cjk"
  apt_install fonts-noto-cjk
  has_cjk_font \
    || fail_or_warn "no CJK font after apt-get install fonts-noto-cjk (Japanese screenshots show boxes)"
fi

# Schemathesis, the property-based tester the API's document is checked with
# (crates/api/tests/schemathesis.rs), from PyPI.
if ! has schemathesis; then
  echo "installing schemathesis"
  if has pip3; then
    pip3 install --quiet schemathesis || true
  elif has pipx; then
    pipx install schemathesis || true
  else
    apt_install python3-pip
    pip3 install --quiet --break-system-packages schemathesis || true
  fi
  hash -r
  has schemathesis || fail_or_warn "schemathesis is still missing after pip install schemathesis"
fi

# The PostgreSQL server the store tests use (TEST_DATABASE_URL). A fresh installation gets a
# cluster that trusts connections from 127.0.0.1 and a database named by the URL.
if ! has pg_ctlcluster; then
  echo "installing PostgreSQL"
  apt_install postgresql postgresql-client
  fresh_postgres=true
else
  fresh_postgres=false
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | tail -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if $fresh_postgres; then
  hba="/etc/postgresql/$(ls /etc/postgresql | tail -1)/main/pg_hba.conf"
  sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  runuser -u postgres -- psql -q -c 'SELECT pg_reload_conf()' >/dev/null
  database="${TEST_DATABASE_URL##*/}"
  runuser -u postgres -- createdb "$database" 2>/dev/null || true
fi
pg_isready -q -h 127.0.0.1 -p 5432 || fail_or_warn "PostgreSQL is not answering on 127.0.0.1:5432"

# The bounce analyser's oracles (oracles/generate.sh): Postfix is installed above; Exim,
# OpenSMTPD and Sendmail conflict with it as packages, so their .debs are fetched with
# `apt-get download` and unpacked into a cache (never installed), and each binary is checked to
# find its libraries. The generator itself needs Python's dnspython (its DNS server).
if ! python3 -c "import dns.message" >/dev/null 2>&1; then
  echo "installing dnspython"
  if ! has pip3; then
    apt_install python3-pip
  fi
  pip3 install --quiet dnspython || pip3 install --quiet --break-system-packages dnspython || true
  python3 -c "import dns.message" >/dev/null 2>&1 \
    || fail_or_warn "dnspython is still missing after pip install dnspython"
fi
# (apt-get download needs the package lists only when the cache lacks the .debs.)
if ! $apt_updated && [ ! -d "${ORACLES_CACHE:-$HOME/.cache/hikyaku-oracles}/debs" ]; then
  apt-get update -qq
  apt_updated=true
fi
oracles/generate.sh --fetch || fail_or_warn "the oracle MTAs (Exim, OpenSMTPD, Sendmail) could not be unpacked"
