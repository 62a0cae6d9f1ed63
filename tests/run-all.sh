#!/usr/bin/env bash
# `npm test`: everything that proves Roost, in one run.
#
#   1. installs the Debian packages the interop tests drive (dovecot-imapd, isync,
#      offlineimap, python3, postfix, swaks, chromium) when missing and we are root or have passwordless sudo,
#      without leaving a system Dovecot running;
#   2. builds (node build/build.mjs)           -> counted as one test;
#   3. type-checks (tsc --noEmit)              -> counted as one test;
#   4. runs vitest (default reporter for this log, JSON reports in test-results/);
#   5. checks no Dovecot started by the tests is left running -> counted as one test;
#   6. prints skipped tests with their reason, failed tests by file, and as the very last
#      line `N passed, N failed`. Exits non-zero when anything failed.
#
# Extra arguments go to vitest, e.g. `npm test -- tests/interop/imapflow.test.ts`.
# TARGET=dovecot runs the interop suites against Dovecot instead of Roost.
set -uo pipefail

cd "$(dirname "$0")/.."
RESULTS=test-results
STEPS="$RESULTS/steps.jsonl"
VITEST_SUMMARY="$RESULTS/vitest-summary.json"
mkdir -p "$RESULTS"
: > "$STEPS"
rm -f "$VITEST_SUMMARY" "$RESULTS/vitest.json" "$RESULTS/summary.json"

log() { printf '[run-all] %s\n' "$*"; }

# record <name> <passed|failed> [message]: one non-vitest step result for the summary.
record() {
  node -e 'const [f, n, s, m] = process.argv.slice(1);
    require("fs").appendFileSync(f, JSON.stringify({ file: "tests/run-all.sh", name: n, status: s, message: m || undefined }) + "\n");' \
    "$STEPS" "$1" "$2" "${3:-}"
}

# ---------------------------------------------------------------------------------------------
# 1. Debian packages

SUDO=()
can_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$(id -u)" -eq 0 ]; then return 0; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=(sudo -n); return 0; fi
  return 1
}

system_dovecot_running() {
  local pid
  pid=$(cat /run/dovecot/master.pid 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# The package's scripts start Dovecot on 143/993 on a normal system. The tests start their
# own private instances, so a system one is only in the way: stop and disable it.
stop_system_dovecot() {
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    "${SUDO[@]}" systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
  fi
  if system_dovecot_running; then
    "${SUDO[@]}" service dovecot stop >/dev/null 2>&1 \
      || "${SUDO[@]}" /etc/init.d/dovecot stop >/dev/null 2>&1 \
      || "${SUDO[@]}" doveadm stop >/dev/null 2>&1 \
      || true
  fi
  if system_dovecot_running; then log "warning: a system Dovecot is still running (pid $(cat /run/dovecot/master.pid)); tests use their own ports, continuing"; fi
}

install_packages() {
  local missing=()
  [ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
  command -v mbsync >/dev/null 2>&1 || missing+=(isync)
  command -v offlineimap >/dev/null 2>&1 || missing+=(offlineimap)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  [ -x /usr/sbin/postfix ] || missing+=(postfix)
  command -v swaks >/dev/null 2>&1 || missing+=(swaks)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  if ! can_install; then
    log "missing ${missing[*]} and cannot install them (need root or passwordless sudo, and apt-get); the tests that need them will be skipped"
    return 0
  fi
  log "installing ${missing[*]}"
  # Postfix asks which configuration to install: none (the tests write their own).
  if printf ' %s ' "${missing[*]}" | grep -q ' postfix '; then
    echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections 2>/dev/null || true
  fi
  # policy-rc.d exit 101 = "action forbidden": package scripts must not start services
  # (invoke-rc.d(8)); removed again afterwards if we created it.
  local policy_created=0 policy="${ROOST_POLICY_RC:-/usr/sbin/policy-rc.d}"
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null && "${SUDO[@]}" chmod 755 "$policy" && policy_created=1
  fi
  local apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o Dpkg::Use-Pty=0 -q)
  local ok=0
  # Only refresh the package lists when they are empty (fresh image) or the install fails.
  if compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    "${apt[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null && ok=1
  fi
  if [ $ok -eq 0 ]; then
    "${apt[@]}" update </dev/null && "${apt[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null && ok=1
  fi
  if [ $policy_created -eq 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi
  if [ $ok -eq 0 ]; then log "warning: installing ${missing[*]} failed; the tests that need them will be skipped"; fi
  case " ${missing[*]} " in *" dovecot-imapd "*) stop_system_dovecot ;; esac
}

install_packages

# ---------------------------------------------------------------------------------------------
# 2. + 3. build and type-check

if [ ! -d node_modules ]; then
  log "node_modules is missing: run 'npm ci' first"
  record "npm dependencies installed" failed "node_modules is missing: run npm ci"
fi

log "build: node build/build.mjs"
if out=$(node build/build.mjs 2>&1); then
  printf '%s\n' "$out"
  record "build (node build/build.mjs)" passed
else
  printf '%s\n' "$out"
  record "build (node build/build.mjs)" failed "$(printf '%s\n' "$out" | grep -v '^\s*$' | head -n 12)"
fi

log "type-check: npx tsc --noEmit -p tsconfig.json"
if out=$(npx --no-install tsc --noEmit -p tsconfig.json 2>&1); then
  record "type-check (tsc --noEmit -p tsconfig.json)" passed
else
  printf '%s\n' "$out"
  count=$(printf '%s\n' "$out" | grep -c 'error TS' || true)
  record "type-check (tsc --noEmit -p tsconfig.json)" failed "$count error(s):
$(printf '%s\n' "$out" | grep 'error TS' | head -n 12)"
fi

# ---------------------------------------------------------------------------------------------
# 4. vitest

log "tests: vitest run $*"
ROOST_SUMMARY_FILE="$VITEST_SUMMARY" npx --no-install vitest run \
  --reporter=default \
  --reporter=./tests/setup/summary-reporter.ts \
  --reporter=json --outputFile.json="$RESULTS/vitest.json" \
  "$@" </dev/null
vitest_status=$?
if [ ! -s "$VITEST_SUMMARY" ] && [ $vitest_status -ne 0 ]; then
  record "vitest run" failed "vitest exited with status $vitest_status before reporting any test (see the log above)"
fi

# ---------------------------------------------------------------------------------------------
# 5. Nothing the tests started may outlive them. Private Dovecots are recognizable by their
#    config path (tests/helpers/dovecot.ts); only orphans (parent gone) are ours to end here.

leaked=$(node tests/setup/leak-check.mjs --kill | tr '\n' ' ')
if [ -z "${leaked// /}" ]; then
  record "no Dovecot process left running after the tests" passed
else
  record "no Dovecot process left running after the tests" failed "orphaned Dovecot master(s) ${leaked}: a test did not call stop(); sent SIGTERM"
fi

# ---------------------------------------------------------------------------------------------
# 6. summary (last line: `N passed, N failed`)

node tests/setup/summarize.mjs "$STEPS" "$VITEST_SUMMARY"
