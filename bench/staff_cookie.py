#!/usr/bin/env python3
"""Logs a staff member in (password, then TOTP) and prints the Cookie
header of the session, for a load tool to replay.

Usage: staff_cookie.py BASE_URL EMAIL PASSWORD TOTP_SECRET_BASE32
"""
import base64, hashlib, hmac, http.cookiejar, re, struct, sys, time, urllib.parse, urllib.request

base, email, password, secret = sys.argv[1:5]
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
    fields = dict(fields, csrf_token=csrf())
    data = urllib.parse.urlencode(fields).encode()
    try:
        opener.open(base + path, data)
    except urllib.error.HTTPError as e:
        if e.code != 303:
            sys.exit(f"{path}: HTTP {e.code}")

def totp(secret_b32):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    step = int(time.time()) // 30
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"

opener.open(base + "/staff/login").read()
post("/staff/login", {"email": email, "password": password})
post("/staff/login", {"totp": totp(secret)})
print("; ".join(f"{c.name}={c.value}" for c in jar))
