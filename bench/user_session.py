#!/usr/bin/env python3
"""Logs a user in with an access code, writes REGISTRATIONS daily
check-ins with a 200-character note and QUESTIONNAIRES PHQ-9 answers (all
sealed under the user's data key), and prints the Cookie header of the
session, for a load tool to replay.

Usage: user_session.py BASE_URL CODE REGISTRATIONS QUESTIONNAIRES
"""
import sys

from http_session import Session

base, code, registrations, questionnaires = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = Session(base)
s.get("/login")
s.post("/login", [("code", code)])
note = ("Sov dårlig, gikk en tur likevel. " * 7)[:200]
for i in range(registrations):
    s.post("/app/registrations/daily-checkin/new",
           [("mood", str(i % 11)), ("worry", "3"), ("sleep", "ok"), ("activity", "some"), ("note", note)])
for i in range(questionnaires):
    s.post("/app/questionnaires/phq9", [(f"phq9-{k}", str((i + k) % 4)) for k in range(1, 10)])
print(s.cookie_header())
