#!/usr/bin/env python3
"""kill -9 during a storm of writes on SQLite loses nothing acknowledged.

Parallel logged-in users send feedback (POST /app/feedback/suggest), each
with a unique body. The client records every write the server acknowledged
(a 2xx or 3xx answer). Mid-storm the server is killed with SIGKILL and
started again on the same database; the users carry on (a request that
met the dead server is counted, not retried) until all writes are sent.
Checked after each restart and at the end: `PRAGMA integrity_check` is
`ok` and every acknowledged write is in the feedback table (read with
`mestring feedback list`, which opens the sealed texts).

Usage: python3 tests/reliability/crash_sqlite.py [--writes 10000]
       [--clients 16] [--kills 2] [--json FILE]
Exit status 0 only if every check passed. Needs target/debug/mestring (or
MESTRING_BIN).
"""

import argparse
import http.client
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Server, User, scan_log  # noqa: E402


def integrity(db_path):
    """`PRAGMA integrity_check` through a separate connection."""
    con = sqlite3.connect(db_path, timeout=30)
    try:
        rows = con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def stored_bodies(server, prefix):
    """The bodies of stored feedback written by this run. The texts are
    sealed under each account's data key, so they are read the way the
    operator reads them: `mestring feedback list` (tab-separated, the text
    last), through its own connection to the same database."""
    bodies = set()
    for line in server.cli("feedback", "list").splitlines():
        body = line.rsplit("\t", 1)[-1]
        if body.startswith(prefix):
            bodies.add(body)
    return bodies


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--writes", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="mestring-crash-")
    data_dir = os.path.join(work, "data")
    db_path = os.path.join(data_dir, "mestring.sqlite3")
    log_path = os.path.join(work, "server.log")
    server = Server(data_dir, f"sqlite://{db_path}", log_path)
    run_id = uuid.uuid4().hex[:12]
    prefix = f"storm-{run_id}-"
    failures = []
    lock = threading.Lock()
    sent = [0]  # writes sent so far, across users
    acked = set()  # bodies of acknowledged writes
    statuses = {}  # status code -> count
    conn_errors = [0]  # requests that met a dead or restarting server
    kills_at = [
        args.writes * (k + 1) // (args.kills + 1) for k in range(args.kills)
    ]  # kill once this many writes were sent
    kill_events = []
    started = time.monotonic()
    try:
        server.start()
        codes = server.issue_codes(args.clients)
        users = []
        for code in codes:
            u = User(server.base)
            u.login(code)
            users.append(u)

        def storm(index, user):
            while True:
                with lock:
                    if sent[0] >= args.writes:
                        return
                    n = sent[0]
                    sent[0] += 1
                body = f"{prefix}{index}-{n}"
                try:
                    status, _, _ = user.post(
                        "/app/feedback/suggest", {"topic": "other", "body": body}
                    )
                except (OSError, http.client.HTTPException):
                    with lock:
                        conn_errors[0] += 1
                    # The server is down or restarting: wait a moment.
                    time.sleep(0.05)
                    continue
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if 200 <= status < 400:
                        acked.add(body)

        threads = [
            threading.Thread(target=storm, args=(i, u), daemon=True)
            for i, u in enumerate(users)
        ]
        storm_start = time.monotonic()
        for t in threads:
            t.start()
        for k, at in enumerate(kills_at):
            while sent[0] < at and any(t.is_alive() for t in threads):
                time.sleep(0.005)
            with lock:
                acked_before = set(acked)
            server.kill9()
            killed_at = time.monotonic()
            server.start()
            restart_secs = time.monotonic() - killed_at
            # Checked while the storm goes on: the restarted server holds
            # every write acknowledged before the kill.
            check = integrity(db_path)
            missing = acked_before - stored_bodies(server, prefix)
            kill_events.append(
                {
                    "kill": k + 1,
                    "writes_sent_at_kill": at,
                    "acknowledged_before_kill": len(acked_before),
                    "restart_seconds": round(restart_secs, 2),
                    "integrity_check": check,
                    "acknowledged_lost": len(missing),
                }
            )
            if check != ["ok"]:
                failures.append(f"integrity_check after kill {k + 1}: {check[:5]}")
            if missing:
                failures.append(f"{len(missing)} acknowledged writes lost at kill {k + 1}")
        for t in threads:
            t.join()
        storm_secs = time.monotonic() - storm_start
        exit_code = server.stop()
        final_check = integrity(db_path)
        stored = stored_bodies(server, prefix)
        lost = acked - stored
        if final_check != ["ok"]:
            failures.append(f"final integrity_check: {final_check[:5]}")
        if lost:
            failures.append(f"{len(lost)} acknowledged writes lost")
        if exit_code != 0:
            failures.append(f"graceful stop exited {exit_code}")
        five_xx = sum(c for s, c in statuses.items() if s >= 500)
        # Writes the server stored but never answered (it died first) are
        # allowed: the client cannot tell them from lost ones, and retrying
        # is the user's call.
        figures = {
            "test": "crash_sqlite",
            "writes_sent": sent[0],
            "clients": args.clients,
            "kills": len(kill_events),
            "acknowledged": len(acked),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "http_5xx": five_xx,
            "connection_errors": conn_errors[0],
            "stored": len(stored),
            "stored_unacknowledged": len(stored - acked),
            "acknowledged_lost": len(lost),
            "integrity_check": final_check,
            "kill_events": kill_events,
            "storm_seconds": round(storm_secs, 1),
            "total_seconds": round(time.monotonic() - started, 1),
        }
        # The log must not carry the bodies (user text) or an internal error.
        leaked = scan_log(log_path, [prefix, r"internal error", r"panicked"])
        if leaked:
            failures.append(f"server log: {len(leaked)} forbidden lines, e.g. {leaked[0][:200]}")
        figures["failures"] = failures
        print(json.dumps(figures, indent=2))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=2)
    except Exception as e:  # report, then clean up below
        failures.append(f"error: {e!r}")
        print(f"crash_sqlite: {e!r}", file=sys.stderr)
    finally:
        server.stop(timeout=10)
        if failures:
            try:
                with open(log_path, encoding="utf-8", errors="replace") as f:
                    tail = f.readlines()[-30:]
                print("--- server log (tail) ---\n" + "".join(tail), file=sys.stderr)
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("crash_sqlite: FAILED\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("crash_sqlite: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
