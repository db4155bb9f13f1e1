#!/usr/bin/env python3
"""Logs a staff member in (password, then TOTP) and prints the Cookie
header of the session, for a load tool to replay.

Usage: staff_cookie.py BASE_URL EMAIL PASSWORD TOTP_SECRET_BASE32
"""
import base64, hashlib, hmac, struct, sys, time

from http_session import Session

base, email, password, secret = sys.argv[1:5]


def totp(secret_b32):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    step = int(time.time()) // 30
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


s = Session(base)
s.get("/staff/login")
s.post("/staff/login", [("email", email), ("password", password)])
s.post("/staff/login", [("totp", totp(secret))])
print(s.cookie_header())
