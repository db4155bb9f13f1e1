#!/usr/bin/env bash
# The cost of crypto-shredding, against a release build.
#
#   bash bench/shredding.sh sqlite|postgres [ACCOUNTS]
#
# Seeds ACCOUNTS accounts (default 100,000; every account with answers
# gets a data key), times `mestring keys rotate-data` (a new key-encryption
# key and every data key re-wrapped: what the sweep does every 12 hours),
# then starts `mestring serve`, gives one user 100 registrations with a
# 200-character note and 20 PHQ-9 answers (all sealed), and runs wrk
# against /healthz (the stack's ceiling), the user's registration list
# (opens 100 notes) and the JSON export (opens every sealed value). Needs
# wrk and, for postgres, a server at 127.0.0.1:5432 (trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
accounts=${2:-100000}
dir=$(mktemp -d)
port=8095
export MESTRING_DATA_DIR=$dir MESTRING_LISTEN=127.0.0.1:$port MESTRING_BASE_URL=http://127.0.0.1:$port MESTRING_LOG=warn
if [ "$backend" = postgres ]; then
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS mestring_bench_shred" -c "CREATE DATABASE mestring_bench_shred"
  export MESTRING_DATABASE_URL=postgres://postgres@127.0.0.1:5432/mestring_bench_shred
else
  export MESTRING_DATABASE_URL=sqlite://$dir/db.sqlite
fi
cargo build --release -q
./target/release/mestring seed --accounts "$accounts" --weeks 52 --orgs 10 > "$dir/seed.txt" 2> "$dir/seed.err"
tail -1 "$dir/seed.err"
if [ "$backend" = postgres ]; then psql -h 127.0.0.1 -U postgres -q -d mestring_bench_shred -c "VACUUM ANALYZE"; fi
echo "== data keys: $( (if [ "$backend" = postgres ]; then psql -h 127.0.0.1 -U postgres -d mestring_bench_shred -Atc "SELECT count(*) FROM account_keys"; else python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM account_keys').fetchone()[0])" "$dir/db.sqlite"; fi) )"
echo "== mestring keys rotate-data"
/usr/bin/time -f "%e s wall, %M KiB max RSS" ./target/release/mestring keys rotate-data 2>&1 | grep -E "re-wrapped|wall"
org=$(grep '^org:' "$dir/seed.txt" | head -1 | sed 's/^org: //')
code=$(./target/release/mestring codes issue --org "$org" --count 1 2>/dev/null | tail -1)
./target/release/mestring serve > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
user=$(python3 bench/user_session.py "http://127.0.0.1:$port" "$code" 100 20)
run() {
  echo "== $1"
  for c in 1 4; do
    echo "-- $c connection(s)"
    wrk -t1 -c$c -d10s --latency -H "Cookie: $user" "http://127.0.0.1:$port$1" | grep -E " 50%| 99%|Requests/sec|Non-2xx"
  done
}
run /healthz
run /app/registrations
run /settings/export.json
