#!/usr/bin/env bash
# The clinician overview at 10,000 codes, against a release build.
#
#   bash bench/overview.sh sqlite|postgres
#
# Seeds one organisation with 10,000 codes (`mestring seed`), starts
# `mestring serve` (release), logs the seeded superuser in, and runs wrk
# against /healthz (the stack's ceiling), the plain overview and the
# filtered/sorted overview. Needs wrk (Debian package) and, for
# postgres, a server at 127.0.0.1:5432 (trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
dir=$(mktemp -d)
port=8093
export MESTRING_DATA_DIR=$dir MESTRING_LISTEN=127.0.0.1:$port MESTRING_BASE_URL=http://127.0.0.1:$port MESTRING_LOG=warn
if [ "$backend" = postgres ]; then
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS mestring_bench_ov" -c "CREATE DATABASE mestring_bench_ov"
  export MESTRING_DATABASE_URL=postgres://postgres@127.0.0.1:5432/mestring_bench_ov
else
  export MESTRING_DATABASE_URL=sqlite://$dir/db.sqlite
fi
cargo build --release -q
./target/release/mestring seed --accounts 10000 --weeks 26 --orgs 1 > "$dir/seed.txt" 2> "$dir/seed.err"
tail -1 "$dir/seed.err"
if [ "$backend" = postgres ]; then psql -h 127.0.0.1 -U postgres -q -d mestring_bench_ov -c "VACUUM ANALYZE"; fi
./target/release/mestring serve > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
field() { grep "^$1" "$dir/seed.txt" | sed "s/^$1 //"; }
cookie=$(python3 bench/staff_cookie.py "http://127.0.0.1:$port" "$(field 'staff email:')" "$(field 'staff password:')" "$(field 'staff totp secret:')")
for path in /healthz /dashboard "/dashboard?filter=sharing&sort=phq9" "/dashboard?filter=item9" "/dashboard?filter=deteriorated" "/dashboard?sort=inactive"; do
  echo "== $path"
  for c in 1 8; do
    echo "-- $c connection(s)"
    wrk -t1 -c$c -d8s --latency -H "Cookie: $cookie" "http://127.0.0.1:$port$path" | grep -E " 50%| 99%|Requests/sec|Non-2xx"
  done
done
