#!/usr/bin/env bash
# A scripted user journey under load (locust), against a release build.
#
#   bash bench/journey.sh sqlite|postgres [ACCOUNTS] [USERS] [SECONDS]
#
# Seeds ACCOUNTS accounts (default 10 000, one organisation per 10 000,
# 8 weeks of history), issues USERS fresh codes (default 50), starts
# `mestring serve` (release), and runs locust headless for SECONDS
# (default 60) with USERS simulated patients (bench/journey.py: log in
# with a code, share, choose a program, then PHQ-9s, results, check-ins and
# the program, 0.5 to 1.5 s between pages). Prints locust's table per
# route (requests, failures, median, p95, p99, req/s) and the server's
# resident memory after the run. Locust is installed, pinned, in
# bench/.venv on first use. For postgres, a server at 127.0.0.1:5432
# (trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
accounts=${2:-10000}
users=${3:-50}
seconds=${4:-60}
orgs=$(( (accounts + 9999) / 10000 ))
port=8098
base=http://127.0.0.1:$port
if [ ! -x bench/.venv/bin/locust ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q --disable-pip-version-check locust==2.47.0
fi
dir=$(mktemp -d)
export MESTRING_DATA_DIR=$dir MESTRING_LISTEN=127.0.0.1:$port MESTRING_BASE_URL=$base MESTRING_LOG=warn
if [ "$backend" = postgres ]; then
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS mestring_bench_journey" -c "CREATE DATABASE mestring_bench_journey"
  export MESTRING_DATABASE_URL=postgres://postgres@127.0.0.1:5432/mestring_bench_journey
else
  export MESTRING_DATABASE_URL=sqlite://$dir/db.sqlite
fi
cargo build --release -q -p mestring-server
bin=target/release/mestring
"$bin" seed --accounts "$accounts" --weeks 8 --orgs "$orgs" --channel helsenorge > "$dir/seed.txt" 2> "$dir/seed.err"
tail -1 "$dir/seed.err"
if [ "$backend" = postgres ]; then psql -h 127.0.0.1 -U postgres -q -d mestring_bench_journey -c "VACUUM ANALYZE"; fi
org=$(grep '^org:' "$dir/seed.txt" | head -1 | sed 's/^org: //')
"$bin" codes issue --org "$org" --count "$users" > "$dir/codes.txt"
"$bin" serve > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
echo "## journey: $backend, $accounts accounts, $users users, $seconds s"
JOURNEY_CODES=$dir/codes.txt bench/.venv/bin/locust -f bench/journey.py --headless \
  --host "$base" -u "$users" -r "$users" -t "${seconds}s" --only-summary \
  --csv "$dir/journey" > "$dir/locust.log" 2>&1 || true
python3 - "$dir/journey_stats.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"| {'route':<45} | requests | failures | p50 ms | p95 ms | p99 ms | req/s |")
print(f"|{'-' * 47}|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['Name'] if r['Name'] != 'Aggregated' else 'all':<45} | {r['Request Count']} | {r['Failure Count']} | "
          f"{r['50%']} | {r['95%']} | {r['99%']} | {float(r['Requests/s']):.1f} |")
PY
if [ -s "$dir/journey_failures.csv" ] && [ "$(wc -l < "$dir/journey_failures.csv")" -gt 1 ]; then
  echo "failures:"; cat "$dir/journey_failures.csv"
fi
echo "server RSS after the run: $(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 )) MB"
