"""A user's journey through Mestring, for locust (bench/journey.sh).

Each simulated user takes one fresh access code from the file named by
JOURNEY_CODES and, once: logs in (CSRF double submit: the token from the
`mestring_csrf` cookie goes in every form), says yes to sharing, chooses a
program and opens its first step. Then, over and over with 0.5 to 1.5 s of
"reading" between pages: the overview, a PHQ-9 (the form, the answers, the
result), all results, a daily check-in (the form, the answers) and the
program. Every POST must answer 303 to the page after it, and every GET
200; anything else counts as a failure. Requests are named by route, so
the statistics group them.
"""
import os
import random
import re
import threading

from locust import HttpUser, between, task
from locust.exception import StopUser

_codes_lock = threading.Lock()
with open(os.environ["JOURNEY_CODES"]) as f:
    _codes = [line.strip() for line in f if line.strip()]


def next_code():
    with _codes_lock:
        return _codes.pop() if _codes else None


class Patient(HttpUser):
    wait_time = between(0.5, 1.5)

    def csrf(self):
        return self.client.cookies.get("mestring_csrf", "")

    def get(self, path, name):
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            return r

    def post(self, path, fields, name, to):
        """POSTs `fields` with the CSRF token; the answer must be a 303 to a
        location starting with `to`. Returns the location."""
        data = dict(fields, csrf_token=self.csrf())
        with self.client.post(path, data=data, name=name, allow_redirects=False, catch_response=True) as r:
            where = r.headers.get("Location", "")
            if r.status_code != 303 or not where.split("://", 1)[-1].split("/", 1)[-1].startswith(to.lstrip("/")):
                r.failure(f"HTTP {r.status_code} to {where!r}, expected 303 to {to}")
            return where

    def on_start(self):
        code = next_code()
        if code is None:
            raise StopUser()
        self.get("/login", "GET /login")
        self.post("/login", {"code": code}, "POST /login (code)", "/consent")
        self.get("/consent", "GET /consent")
        self.post("/consent", {"choice": "yes"}, "POST /consent", "/app")
        self.post("/app/program/choose", {"program": random.choice(["angst", "nedstemthet"])},
                  "POST /app/program/choose", "/app")
        home = self.get("/app", "GET /app").text
        step = re.search(r'href="(/app/steps/[^"]+)"', home)
        if step:
            with self.client.get(step.group(1), name="GET /app/steps/{id}", allow_redirects=False,
                                 catch_response=True) as r:
                if r.status_code not in (200, 303):
                    r.failure(f"HTTP {r.status_code}")

    @task
    def journey(self):
        self.get("/app", "GET /app")
        self.get("/app/questionnaires/phq9", "GET /app/questionnaires/phq9")
        answers = {f"phq9-{k}": str(random.randint(0, 3)) for k in range(1, 10)}
        result = self.post("/app/questionnaires/phq9", answers, "POST /app/questionnaires/phq9",
                           "/app/results/")
        if "/app/results/" in result:
            self.get("/app/results/" + result.rsplit("/app/results/", 1)[1], "GET /app/results/{id}")
        self.get("/app/results", "GET /app/results")
        self.get("/app/registrations/daily-checkin/new", "GET /app/registrations/daily-checkin/new")
        checkin = {"mood": str(random.randint(0, 10)), "worry": str(random.randint(0, 10)),
                   "sleep": "ok", "activity": "some", "note": "Gikk en tur."}
        self.post("/app/registrations/daily-checkin/new", checkin,
                  "POST /app/registrations/daily-checkin/new", "/app/registrations")
        self.get("/app/program", "GET /app/program")
