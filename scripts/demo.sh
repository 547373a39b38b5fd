#!/usr/bin/env bash
# make demo: the whole dispute workflow on a simulated clock, in about ten seconds.
# Starts disputed on a throw-away state directory, registers three merchants
# (SE, DE with an activated portal, GB), opens one dispute per path of the state
# diagram, advances the clock through every deadline and prints each dispute's
# timeline and the notices the daemon queued.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DISPUTED_BIN_DIR:-.build/debug}
STATE=$(mktemp -d /tmp/disputed-demo.XXXXXX)
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$STATE"' EXIT
sed -e "s|./.state/lib|$STATE/lib|" -e "s|./.state/run/control.sock|$STATE/control.sock|" \
    -e "s|./.state/spool/outgoing|$STATE/spool/outgoing|" -e 's|log_level = "info"|log_level = "warning"|' \
    config/dev.toml > "$STATE/demo.toml"
"$BIN/disputed" --config "$STATE/demo.toml" --simulated-clock 2027-01-11T09:00:00Z 2> "$STATE/disputed.log" &
PID=$!
for _ in $(seq 100); do [ -S "$STATE/control.sock" ] && break; sleep 0.1; done
ctl() { echo "\$ disputectl $*" >&2; "$BIN/disputectl" --socket "$STATE/control.sock" "$@"; }

echo "== Merchants"
ctl merchant upsert --id M-SE --name "Åsa Handel AB" --email tvist@asa-handel.example --country SE --timezone Europe/Stockholm --locale sv
ctl merchant upsert --id M-DE --name "Müller GmbH" --email streit@mueller.example --country DE --timezone Europe/Berlin --locale de --portal
ctl merchant upsert --id M-GB --name "Brown & Sons Ltd" --email disputes@brown.example --country GB --timezone Europe/London
ctl merchant list

echo; echo "== Disputes (Monday 11 January 2027, 10:00 in Stockholm)"
ctl open --merchant M-SE --order SE-1001 --amount 499.00 --order-amount 899.00 --currency SEK --reason faulty --id D-ANSWERED
ctl open --merchant M-SE --order SE-1002 --amount 250.00 --currency SEK --reason notReceived --id D-UNANSWERED
ctl open --merchant M-DE --order DE-2001 --amount 80.00 --currency EUR --reason notAsDescribed --id D-ESC-MERCHANT
ctl open --merchant M-DE --order DE-2002 --amount 120.00 --currency EUR --reason faulty --id D-ESC-CUSTOMER
ctl open --merchant M-GB --order GB-3001 --amount 40.00 --currency GBP --reason other --id D-WITHDRAWN
ctl open --merchant M-GB --order GB-3002 --amount 60.00 --currency GBP --reason returned --id D-REFUNDED

echo; echo "== Merchants answer; a customer withdraws; an order is refunded"
ctl respond D-ANSWERED
ctl resolve D-ANSWERED --refund 100.00
ctl respond D-ESC-MERCHANT
ctl respond D-ESC-CUSTOMER
ctl withdraw D-WITHDRAWN
ctl refunded GB-3002
ctl deadlines --within 30d

echo; echo "== Three weeks pass"
ctl clock advance 3w
ctl list
echo; echo "== The provider contacts the customers of the escalated disputes"
ctl statement D-ESC-MERCHANT --invalid
ctl statement D-ESC-CUSTOMER --valid
ctl evidence D-ESC-CUSTOMER --note "carrier confirms delivery damaged"
ctl decide D-ESC-CUSTOMER --for customer
ctl clock advance 60d

echo; echo "== Final states"
ctl list
for d in D-ANSWERED D-UNANSWERED D-ESC-MERCHANT D-ESC-CUSTOMER D-WITHDRAWN D-REFUNDED; do
  echo; echo "== $d"; ctl show "$d"
done
echo; echo "== Status"
ctl status
