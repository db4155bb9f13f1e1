"""A cookie-keeping HTTP session for the bench scripts: no redirects
followed, every POST carries the CSRF token from the `mestring_csrf`
cookie (double submit), and anything but a 303 answer stops the script."""
import http.cookiejar, sys, urllib.error, urllib.parse, urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


class Session:
    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def csrf(self):
        for c in self.jar:
            if c.name == "mestring_csrf":
                return c.value
        return ""

    def get(self, path):
        return self.opener.open(self.base + path).read()

    def post(self, path, fields):
        """POSTs `fields` (pairs) and expects 303 See Other."""
        data = urllib.parse.urlencode(list(fields) + [("csrf_token", self.csrf())]).encode()
        try:
            self.opener.open(self.base + path, data)
        except urllib.error.HTTPError as e:
            if e.code != 303:
                sys.exit(f"{path}: HTTP {e.code}")

    def cookie_header(self):
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)
