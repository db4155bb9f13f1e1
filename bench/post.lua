-- wrk script for bench/run: every request is a POST of the form body in
-- the BODY environment variable (application/x-www-form-urlencoded).
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
