#!/usr/bin/env python3
"""Logs a user in with an access code, writes REGISTRATIONS daily
check-ins with a 200-character note and QUESTIONNAIRES PHQ-9 answers (all
sealed under the user's data key), and prints the Cookie header of the
session, for a load tool to replay.

Usage: user_session.py BASE_URL CODE REGISTRATIONS QUESTIONNAIRES
"""
import http.cookiejar, sys, urllib.parse, urllib.request

base, code, registrations, questionnaires = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
jar = http.cookiejar.CookieJar()

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None

opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

def csrf():
    for c in jar:
        if c.name == "mestring_csrf":
            return c.value
    return ""

def post(path, fields):
    fields = list(fields) + [("csrf_token", csrf())]
    data = urllib.parse.urlencode(fields).encode()
    try:
        opener.open(base + path, data)
    except urllib.error.HTTPError as e:
        if e.code != 303:
            sys.exit(f"{path}: HTTP {e.code}")

opener.open(base + "/login").read()
post("/login", [("code", code)])
note = ("Sov dårlig, gikk en tur likevel. " * 7)[:200]
for i in range(registrations):
    post("/app/registrations/daily-checkin/new",
         [("mood", str(i % 11)), ("worry", "3"), ("sleep", "ok"), ("activity", "some"), ("note", note)])
for i in range(questionnaires):
    post("/app/questionnaires/phq9", [(f"phq9-{k}", str((i + k) % 4)) for k in range(1, 10)])
print("; ".join(f"{c.name}={c.value}" for c in jar))
