"""Shared helpers for the reliability runs (python3 standard library only).

They drive the real `mestring` binary as a separate process, the way
tests/e2e does: a fresh data directory, the repository's content/, a free
port on 127.0.0.1, and the CLI against the same data directory and database.
Every request goes to 127.0.0.1 only.
"""

import http.client
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def mestring_bin():
    """Absolute path of the binary under test (`MESTRING_BIN` or target/debug)."""
    path = os.environ.get("MESTRING_BIN") or os.path.join(REPO_ROOT, "target", "debug", "mestring")
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: run `cargo build --bin mestring` first, or set MESTRING_BIN")
    return path


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`mestring serve` as a child process; restartable on the same port,
    data directory and database. Its stderr goes to `log_path`."""

    def __init__(self, data_dir, database_url, log_path, port=None, extra_env=None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = dict(os.environ)
        self.env.update(
            {
                "MESTRING_DATA_DIR": data_dir,
                "MESTRING_DATABASE_URL": database_url,
                "MESTRING_CONTENT_DIR": os.path.join(REPO_ROOT, "content"),
                "MESTRING_LISTEN": f"127.0.0.1:{self.port}",
                "MESTRING_BASE_URL": self.base,
                "MESTRING_LOG": "info",
            }
        )
        self.env.update(extra_env or {})
        self.proc = None

    def start(self, timeout=60):
        """Starts the server and waits until `/healthz` answers."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [mestring_bin(), "serve"],
            env=self.env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early with {self.proc.returncode}; see {self.log_path}")
            try:
                status, _, _ = request(self.base, "GET", "/healthz", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not healthy within {timeout} s; see {self.log_path}")

    def kill9(self):
        """SIGKILL: no shutdown code runs."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout=40):
        """SIGTERM and wait (SIGKILL after `timeout`); returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def cli(self, *args):
        """Runs the CLI against the same data directory and database; stdout."""
        out = subprocess.run(
            [mestring_bin(), *args],
            env={k: v for k, v in self.env.items() if k != "MESTRING_LISTEN"},
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode != 0:
            raise RuntimeError(f"mestring {args[0]} exited {out.returncode}: {out.stderr[-2000:]}")
        return out.stdout

    def issue_codes(self, count):
        """A new organisation and `count` codes it issued."""
        org = self.cli("org", "create", "--name", "Pålitelighet").strip().splitlines()[-1].strip()
        out = self.cli("codes", "issue", "--org", org, "--count", str(count))
        return [line.strip() for line in out.splitlines() if line.strip()]


def request(base, method, path, body=None, headers=None, timeout=30, conn=None, cookies_out=None):
    """One HTTP request; returns (status, headers as a lower-case dict, body).
    Uses `conn` (kept alive by the caller) when given; appends every
    Set-Cookie value to `cookies_out` when given."""
    own = conn is None
    if own:
        url = urllib.parse.urlsplit(base)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        data = res.read()
        if cookies_out is not None:
            cookies_out.extend(res.msg.get_all("Set-Cookie") or [])
        return res.status, {k.lower(): v for k, v in res.getheaders()}, data.decode("utf-8", "replace")
    finally:
        if own:
            conn.close()


class User:
    """A browser-like client with its own cookies and keep-alive connection."""

    def __init__(self, base, timeout=30):
        self.base = base
        self.timeout = timeout
        self.cookies = {}
        self.conn = None

    def _connection(self):
        if self.conn is None:
            url = urllib.parse.urlsplit(self.base)
            self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=self.timeout)
        return self.conn

    def drop_connection(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, method, path, form=None):
        """One request; connection errors propagate (OSError or
        http.client.HTTPException) after the connection is dropped."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Sec-Fetch-Site"] = "same-origin"
        set_cookies = []
        try:
            status, res_headers, text = request(
                self.base, method, path, body=body, headers=headers, conn=self._connection(),
                cookies_out=set_cookies,
            )
        except (OSError, http.client.HTTPException):
            self.drop_connection()
            raise
        for value in set_cookies:
            self._absorb(value)
        if res_headers.get("connection", "").lower() == "close":
            self.drop_connection()
        return status, res_headers, text

    def _absorb(self, set_cookie):
        first = set_cookie.split(";", 1)[0]
        if "=" not in first:
            return
        name, value = (p.strip() for p in first.split("=", 1))
        if not value or "max-age=0" in set_cookie.lower():
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def post(self, path, fields):
        """POST a form as the browser would: with the CSRF token."""
        if "mestring_csrf" not in self.cookies:
            self.send("GET", "/login")
        return self.send("POST", path, dict(fields, csrf_token=self.cookies["mestring_csrf"]))

    def login(self, code):
        status, headers, _ = self.post("/login", {"code": code})
        if status != 303 or "mestring_session" not in self.cookies:
            raise RuntimeError(f"login failed with {status} (location {headers.get('location')})")


def scan_log(path, forbidden):
    """Lines of the server log matching any regex in `forbidden`."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.rstrip() for line in f if any(re.search(p, line) for p in forbidden)]
