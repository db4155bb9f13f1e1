#!/usr/bin/env bash
# Group data at scale, against a release build.
#
#   bash bench/aggregates.sh sqlite|postgres [ACCOUNTS] [ORGS]
#
# Seeds one channel (`mestring seed --channel helsenorge`) with ACCOUNTS
# accounts (default 100,000) over ORGS organisations (default 20), starts
# `mestring serve` (release), logs in the seeded tool manager and
# superuser, times the first channel view (which computes and stores the
# counts), then runs wrk against /healthz (the stack's ceiling), the
# channel view and one organisation's view. Every request reads the
# stored counts and protects the whole channel. Needs wrk and, for postgres, a server at
# 127.0.0.1:5432 (trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
accounts=${2:-100000}
orgs=${3:-20}
dir=$(mktemp -d)
port=8094
export MESTRING_DATA_DIR=$dir MESTRING_LISTEN=127.0.0.1:$port MESTRING_BASE_URL=http://127.0.0.1:$port MESTRING_LOG=warn
if [ "$backend" = postgres ]; then
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS mestring_bench_agg" -c "CREATE DATABASE mestring_bench_agg"
  export MESTRING_DATABASE_URL=postgres://postgres@127.0.0.1:5432/mestring_bench_agg
else
  export MESTRING_DATABASE_URL=sqlite://$dir/db.sqlite
fi
cargo build --release -q
./target/release/mestring seed --accounts "$accounts" --weeks 52 --orgs "$orgs" --channel helsenorge > "$dir/seed.txt" 2> "$dir/seed.err"
tail -1 "$dir/seed.err"
if [ "$backend" = postgres ]; then psql -h 127.0.0.1 -U postgres -q -d mestring_bench_agg -c "VACUUM ANALYZE"; fi
./target/release/mestring serve > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
field() { grep "^$1" "$dir/seed.txt" | sed "s/^$1 //"; }
manager=$(python3 bench/staff_cookie.py "http://127.0.0.1:$port" "$(field 'tool manager email:')" "$(field 'tool manager password:')" "$(field 'tool manager totp secret:')")
staff=$(python3 bench/staff_cookie.py "http://127.0.0.1:$port" "$(field 'staff email:')" "$(field 'staff password:')" "$(field 'staff totp secret:')")
run() {
  echo "== $1"
  for c in 1 4; do
    echo "-- $c connection(s)"
    wrk -t1 -c$c -d10s --latency -H "Cookie: $2" "http://127.0.0.1:$port$1" | grep -E " 50%| 99%|Requests/sec|Non-2xx"
  done
}
# The first request finds no stored counts and computes them (what the
# hourly maintenance then keeps fresh); later ones read them.
echo "== first /dashboard/channel (computes and stores the counts)"
curl -s -o /dev/null -w 'status %{http_code}, %{time_total} s\n' -H "Cookie: $manager" "http://127.0.0.1:$port/dashboard/channel"
run /healthz "$manager"
run /dashboard/channel "$manager"
run /dashboard/aggregates "$staff"
