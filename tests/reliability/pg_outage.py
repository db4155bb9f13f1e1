#!/usr/bin/env python3
"""PostgreSQL stopped under load and started again: 503, then recovery.

Starts a private, throwaway PostgreSQL cluster (initdb into a temporary
directory, its own port and socket directory; never the shared cluster on
port 5432), and `mestring serve` on it. Logged-in users load the server
(GET /app and POST /app/feedback/suggest in turn) while a prober polls
/readyz. Then the cluster is stopped (`pg_ctl stop -m fast`, or with
`--mode immediate` the way a crash stops it: no shutdown checkpoint, crash
recovery at the next start), left down, and started again; the server
keeps running throughout.

Checked:
- while PostgreSQL is down, every answer is 503 with `Retry-After`, none
  is a 500, and none takes longer than the pool timeout (3 s) plus 1 s;
- /readyz answers 503 while it is down;
- within 5 s of PostgreSQL accepting connections again, every request
  succeeds (and /readyz is 200), with the same server process;
- no answer anywhere in the run is a 5xx other than 503, and the server
  log has no internal error and no connection details.

The cluster is stopped and deleted at the end, also on failure.

Usage: python3 tests/reliability/pg_outage.py [--clients 8] [--down 8] [--mode fast|immediate]
       [--json FILE]
"""

import argparse
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Server, User, free_port, request, scan_log  # noqa: E402

POOL_TIMEOUT_SECS = 3.0  # mestring_store::CONNECTION_TIMEOUT
RECOVERY_LIMIT_SECS = 5.0


def pg_bindir():
    """The directory of initdb and pg_ctl (newest installed PostgreSQL)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise SystemExit("initdb not found (apt-get install postgresql)")


class Cluster:
    """A private PostgreSQL cluster in a temporary directory. As root it
    runs as the `postgres` user, since initdb refuses root."""

    def __init__(self, root):
        self.bindir = pg_bindir()
        self.dir = os.path.join(root, "pg")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        os.makedirs(self.dir)
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def run(self, *args, check=True):
        return subprocess.run(
            self.as_user + [os.path.join(self.bindir, args[0]), *args[1:]],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def init(self):
        self.run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\n"
                "fsync = off\n"
                "max_connections = 40\n"
            )

    def start(self):
        self.run("pg_ctl", "start", "-w", "-t", "60", "-D", self.data, "-l", os.path.join(self.dir, "pg.log"))

    def stop(self, mode="fast"):
        self.run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", self.data, check=False)

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--warm", type=float, default=3.0, help="seconds of load before the stop")
    ap.add_argument("--down", type=float, default=8.0, help="seconds PostgreSQL stays down")
    ap.add_argument("--after", type=float, default=8.0, help="seconds of load after the start")
    ap.add_argument(
        "--mode",
        choices=["fast", "immediate"],
        default="fast",
        help="how PostgreSQL is stopped (immediate: like a crash)",
    )
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--keep-log", help="copy the server log to this file")
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="mestring-pgout-")
    os.chmod(root, 0o755)
    cluster = Cluster(root)
    data_dir = os.path.join(root, "server")
    log_path = os.path.join(root, "server.log")
    server = None
    failures = []
    figures = {"test": "pg_outage"}
    try:
        cluster.init()
        cluster.start()
        server = Server(data_dir, cluster.url, log_path)
        server.start()
        pid = server.proc.pid
        codes = server.issue_codes(args.clients)
        users = []
        for code in codes:
            u = User(server.base, timeout=30)
            u.login(code)
            users.append(u)

        records = []  # (start, end, kind, status or None, retry_after, error)
        probes = []  # (start, end, status or None)
        lock = threading.Lock()
        stop_load = threading.Event()
        run_id = uuid.uuid4().hex[:12]

        def load(index, user):
            n = 0
            while not stop_load.is_set():
                n += 1
                if n % 2:
                    kind, call = "GET /app", lambda: user.send("GET", "/app")
                else:
                    body = f"outage-{run_id}-{index}-{n}"
                    kind, call = "POST feedback", lambda: user.post(
                        "/app/feedback/suggest", {"topic": "other", "body": body}
                    )
                t0 = time.monotonic()
                try:
                    status, headers, _ = call()
                    rec = (t0, time.monotonic(), kind, status, headers.get("retry-after"), None)
                except (OSError, http.client.HTTPException) as e:
                    rec = (t0, time.monotonic(), kind, None, None, type(e).__name__)
                with lock:
                    records.append(rec)
                if rec[3] is not None and rec[3] >= 500:
                    time.sleep(0.05)  # as a person would: not a tight loop

        def probe():
            while not stop_load.is_set():
                t0 = time.monotonic()
                try:
                    status, _, _ = request(server.base, "GET", "/readyz", timeout=30)
                except (OSError, http.client.HTTPException):
                    status = None
                with lock:
                    probes.append((t0, time.monotonic(), status))
                time.sleep(0.1)

        threads = [threading.Thread(target=load, args=(i, u), daemon=True) for i, u in enumerate(users)]
        threads.append(threading.Thread(target=probe, daemon=True))
        for t in threads:
            t.start()
        time.sleep(args.warm)
        t_stopping = time.monotonic()
        cluster.stop(args.mode)
        t_down = time.monotonic()
        time.sleep(args.down)
        t_starting = time.monotonic()
        cluster.start()  # returns once PostgreSQL accepts connections
        t_up = time.monotonic()
        time.sleep(args.after)
        stop_load.set()
        for t in threads:
            t.join(timeout=60)
        t_end = time.monotonic()

        same_process = server.proc.poll() is None and server.proc.pid == pid
        if not same_process:
            failures.append("the server process exited or was replaced")

        def ok(status):
            return status is not None and 200 <= status < 400

        # Fully inside the outage: sent after the stop completed, answered
        # before the start began.
        during = [r for r in records if r[0] >= t_down and r[1] <= t_starting]
        during_bad = [r for r in during if r[3] != 503 or not r[4]]
        slowest_during = max((r[1] - r[0] for r in during), default=0.0)
        five_xx = [r for r in records if r[3] is not None and r[3] >= 500]
        not_503 = [r for r in five_xx if r[3] != 503]
        no_retry_after = [r for r in five_xx if not r[4]]
        conn_err = [r for r in records if r[3] is None]
        probes_during = [p for p in probes if p[0] >= t_down and p[1] <= t_starting]
        # Recovery: from PostgreSQL accepting connections to the answer of
        # the first request from which on every request succeeded (it may
        # have been sent while the database was still down, and waited).
        after = sorted((r for r in records if r[1] >= t_starting), key=lambda r: r[0])
        last_fail = max((r[0] for r in after if not ok(r[3])), default=None)
        firsts = sorted(r[1] for r in after if ok(r[3]) and (last_fail is None or r[0] > last_fail))
        recovery = max(0.0, firsts[0] - t_up) if firsts else None
        recovery_from_start = max(0.0, firsts[0] - t_starting) if firsts else None
        probes_after = sorted((p for p in probes if p[0] >= t_up), key=lambda p: p[0])
        last_unready = max((p[0] for p in probes_after if p[2] != 200), default=None)
        ready_first = sorted(
            p[1] for p in probes_after if p[2] == 200 and (last_unready is None or p[0] > last_unready)
        )
        ready_recovery = max(0.0, ready_first[0] - t_up) if ready_first else None

        if not during:
            failures.append("no request completed while PostgreSQL was down")
        if during_bad:
            r = during_bad[0]
            failures.append(
                f"{len(during_bad)} answers during the outage were not 503 with Retry-After, "
                f"e.g. {r[2]} -> {r[3]} (Retry-After {r[4]!r}, error {r[5]})"
            )
        if slowest_during > POOL_TIMEOUT_SECS + 1.0:
            failures.append(f"an answer during the outage took {slowest_during:.2f} s")
        if not_503:
            failures.append(f"{len(not_503)} answers were a 5xx other than 503")
        if no_retry_after:
            failures.append(f"{len(no_retry_after)} 5xx answers without Retry-After")
        if conn_err:
            failures.append(f"{len(conn_err)} requests got no HTTP answer")
        if not probes_during or any(p[2] != 503 for p in probes_during):
            failures.append(f"/readyz during the outage: {[p[2] for p in probes_during]}")
        if recovery is None or recovery > RECOVERY_LIMIT_SECS:
            failures.append(f"requests did not all succeed within {RECOVERY_LIMIT_SECS} s (recovery {recovery})")
        if ready_recovery is None or ready_recovery > RECOVERY_LIMIT_SECS:
            failures.append(f"/readyz not 200 within {RECOVERY_LIMIT_SECS} s (took {ready_recovery})")
        if not any(ok(r[3]) for r in records if r[0] >= t_up + RECOVERY_LIMIT_SECS):
            failures.append("no successful request after recovery")

        exit_code = server.stop()
        if exit_code != 0:
            failures.append(f"graceful stop exited {exit_code}")
        forbidden = [
            r"internal error",
            r"status=5(?!03)\d\d",
            r"panicked",
            r"connection to server",
            rf"\b{cluster.port}\b",
            r"postgres://",
            f"outage-{run_id}",
        ]
        leaked = scan_log(log_path, forbidden)
        if leaked:
            failures.append(f"server log: {len(leaked)} forbidden lines, e.g. {leaked[0][:200]}")

        figures.update(
            {
                "clients": args.clients,
                "requests_sent": len(records),
                "requests_during_outage": len(during),
                "http_503": sum(1 for r in records if r[3] == 503),
                "http_5xx": len(five_xx),
                "http_5xx_other_than_503": len(not_503),
                "no_http_answer": len(conn_err),
                "succeeded": sum(1 for r in records if ok(r[3])),
                "slowest_answer_during_outage_seconds": round(slowest_during, 2),
                "readyz_probes_during_outage": len(probes_during),
                "readyz_503_during_outage": sum(1 for p in probes_during if p[2] == 503),
                "postgres_stop_mode": args.mode,
                "postgres_stop_seconds": round(t_down - t_stopping, 2),
                "postgres_down_seconds": round(t_up - t_down, 2),
                "recovery_seconds": None if recovery is None else round(recovery, 2),
                "recovery_from_start_command_seconds": None
                if recovery_from_start is None
                else round(recovery_from_start, 2),
                "postgres_start_seconds": round(t_up - t_starting, 2),
                "readyz_recovery_seconds": None if ready_recovery is None else round(ready_recovery, 2),
                "server_restarted": not same_process,
                "load_seconds": round(t_end - (t_stopping - args.warm), 1),
            }
        )
    except Exception as e:  # report, then clean up below
        failures.append(f"error: {e!r}")
        print(f"pg_outage: {e!r}", file=sys.stderr)
    finally:
        if server is not None:
            server.stop(timeout=10)
        cluster.stop("immediate")
        if failures:
            try:
                with open(log_path, encoding="utf-8", errors="replace") as f:
                    tail = f.readlines()[-30:]
                print("--- server log (tail) ---\n" + "".join(tail), file=sys.stderr)
            except OSError:
                pass
        if args.keep_log and os.path.exists(log_path):
            shutil.copy(log_path, args.keep_log)
        shutil.rmtree(root, ignore_errors=True)
    figures["failures"] = failures
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    if failures:
        print("pg_outage: FAILED\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("pg_outage: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
