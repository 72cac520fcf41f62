"""Issue 5: accounts and sessions over HTTP. Login sets an HttpOnly, SameSite=Strict cookie with
an expiry; logout ends it; bearer tokens from `camvault user token` work for scripts; cookie
writes need the CSRF token; forged and expired credentials are 401; repeated failures are
throttled (429 with Retry-After); HTTPS with --cert/--key marks the cookie Secure.
"""
import subprocess

from conftest import CAMVAULT, cv, wait_for
from httpapi import PASSWORD, Client, add_user, audit_records, logged_in, start_server


def test_login_me_logout(root, tmp_path, procs):
    add_user(root, "alice", "officer")
    srv = start_server(procs, root, tmp_path)
    c = Client(srv.port)
    r = c.login("alice")
    assert r.status == 200, r
    cookie = r.header("Set-Cookie")
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"):
        assert attr in cookie, cookie
    assert "Secure" not in cookie  # plain HTTP
    body = r.json()
    assert body["user"]["name"] == "alice" and body["user"]["role"] == "officer"
    assert len(body["csrf_token"]) == 43 and body["expires_us"] > body["user"]["last_login_us"]
    me = c.get("/api/v1/me")
    assert me.status == 200 and me.json()["auth"] == "cookie"
    assert me.json()["csrf_token"] == body["csrf_token"]
    out = c.post("/api/v1/logout")
    assert out.status == 200, out
    assert "Max-Age=0" in out.header("Set-Cookie")
    again = c.get("/api/v1/me")
    assert again.status == 401 and again.json()["error"] == "invalid session"
    actions = [a["action"] for a in audit_records(root)]
    assert actions[-2:] == ["login", "logout"]


def test_wrong_password_then_throttled(root, tmp_path, procs):
    add_user(root, "bob", "resident")
    srv = start_server(procs, root, tmp_path)
    c = Client(srv.port)
    unknown = c.login("nobody", "whatever-password")
    assert unknown.status == 401
    for _ in range(5):
        r = c.login("bob", "not the password")
        assert r.status == 401 and r.json()["error"] == "wrong user name or password"
        assert r.json() == unknown.json()  # the same answer whether the user exists or not
    locked = c.login("bob", PASSWORD)
    assert locked.status == 429, locked
    assert int(locked.header("Retry-After")) > 0
    assert locked.json()["retry_after"] > 0 and "too many failed logins" in locked.json()["error"]
    failed = [a for a in audit_records(root) if a["action"] == "login-failed"]
    assert len(failed) == 6 and failed[-1]["user"] == "bob" and "127.0.0.1" in failed[-1]["detail"]


def test_csrf_required_for_cookie_writes(root, tmp_path, procs):
    add_user(root, "root-admin", "admin")
    srv = start_server(procs, root, tmp_path)
    c = logged_in(srv.port, "root-admin")
    new = {"name": "carol", "role": "resident", "password": "carol's password"}
    r = c.post("/api/v1/users", new, csrf=False)
    assert r.status == 403 and "missing X-CSRF-Token" in r.json()["error"], r
    r = c.post("/api/v1/users", new, headers={"X-CSRF-Token": "x" * 43}, csrf=False)
    assert r.status == 403 and r.json()["error"] == "wrong X-CSRF-Token", r
    r = c.post("/api/v1/users", new)
    assert r.status == 201 and r.json()["user"]["name"] == "carol", r
    assert "password" not in r.json()  # given, not generated: not echoed
    # Bearer tokens need no CSRF token; a generated password is shown once.
    tok = Client(srv.port)
    tok.bearer = cv("user", "token", "root-admin", root=root).stdout.strip()
    r = tok.post("/api/v1/users", {"name": "dave", "role": "officer"})
    assert r.status == 201 and len(r.json()["password"]) == 20, r
    assert logged_in(srv.port, "dave", r.json()["password"]).get("/api/v1/me").status == 200


def test_forged_and_expired_credentials(root, tmp_path, procs):
    add_user(root, "erin", "officer")
    srv = start_server(procs, root, tmp_path)
    c = Client(srv.port)
    for cookie, why in [("A" * 43, "invalid session"), ("../../etc/passwd", "invalid session"),
                        ("", "invalid session")]:
        r = c.raw("GET", "/api/v1/me", headers={"Cookie": f"cv_session={cookie}"})
        assert r.status == 401 and r.json()["error"] == why, (cookie, r)
    r = c.raw("GET", "/api/v1/me")
    assert r.status == 401 and "not logged in" in r.json()["error"]
    r = c.raw("GET", "/api/v1/me", headers={"Authorization": "Basic ZXJpbjpwdw=="})
    assert r.status == 401 and "Bearer" in r.json()["error"]
    # A real cookie session's token is not accepted as a bearer token, nor the other way round.
    s = logged_in(srv.port, "erin")
    r = c.raw("GET", "/api/v1/me", headers={"Authorization": f"Bearer {s.cookie}"})
    assert r.status == 401
    # A bearer token that expires (0.00002 days = 1.7 s): refused once it has.
    t = Client(srv.port)
    t.bearer = cv("user", "token", "erin", "--days", "0.00002", root=root).stdout.strip()
    wait_for(lambda: t.get("/api/v1/me").status == 401, 30, what="the token to expire")
    assert t.get("/api/v1/me").json()["error"] == "session expired"


def test_password_change_and_disable(root, tmp_path, procs):
    add_user(root, "frank", "mediator")
    add_user(root, "boss", "admin")
    srv = start_server(procs, root, tmp_path)
    c = logged_in(srv.port, "frank")
    r = c.post("/api/v1/me/password", {"old": "wrong", "new": "a brand new password"})
    assert r.status == 403 and r.json()["error"] == "wrong current password"
    r = c.post("/api/v1/me/password", {"old": PASSWORD, "new": "short"})
    assert r.status == 400 and "10 to 256" in r.json()["error"]
    r = c.post("/api/v1/me/password", {"old": PASSWORD, "new": "a brand new password"})
    assert r.status == 200
    assert c.get("/api/v1/me").status == 401  # sessions end with a password change
    c2 = logged_in(srv.port, "frank", "a brand new password")
    admin = logged_in(srv.port, "boss")
    assert admin.patch("/api/v1/users/frank", {"disabled": True}).status == 200
    r = c2.get("/api/v1/me")
    assert r.status == 401
    r = Client(srv.port).login("frank", "a brand new password")
    assert r.status == 401 and r.json()["error"] == "account disabled"
    r = admin.patch("/api/v1/users/boss", {"role": "officer"})
    assert r.status == 409 and "themself" in r.json()["error"]


def test_https_marks_the_cookie_secure(root, tmp_path, procs):
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "2", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    add_user(root, "gina", "officer")
    srv = start_server(procs, root, tmp_path, extra=["--cert", crt, "--key", key])
    assert "serving https://" in srv.ready_line
    c = Client(srv.port, tls=True)
    r = c.login("gina")
    assert r.status == 200 and "; Secure" in r.header("Set-Cookie"), r
    assert c.get("/api/v1/me").status == 200
    # Half a TLS configuration is a usage error naming both options.
    r = cv("serve", "--cert", crt, root=root, check=False)
    assert r.returncode == 2 and "--cert and --key" in r.stderr
    r = cv("serve", "--cert", crt, "--key", tmp_path / "nope.pem", "--listen", "127.0.0.1:1",
           root=root, check=False)
    assert r.returncode == 1 and "nope.pem" in r.stderr
