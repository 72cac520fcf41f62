"""Helpers for the HTTP server's end-to-end tests (test_1NN_*.py): start `camvault serve` on a
free port, create users with the CLI, and call the API as a logged-in user (cookie + CSRF
token), with a bearer token, or as nobody. Plain http.client, so every header is visible.
"""
import http.client
import json
import ssl

from conftest import CAMVAULT, Proc, cv, free_port

PASSWORD = "correct horse battery"


def start_server(procs, root, tmp_path, extra=(), name="serve"):
    port = free_port()
    argv = [CAMVAULT, "serve", "--root", root, "--listen", f"127.0.0.1:{port}", *extra]
    p = Proc(argv, ready="camvault: serving", log=tmp_path / f"{name}.log", timeout=30)
    p.port = port
    procs.append(p)
    return p


def add_user(root, name, role, password=PASSWORD):
    r = __import__("subprocess").run(
        [str(CAMVAULT), "user", "add", name, "--role", role, "--password-stdin", "--root",
         str(root)], input=password + "\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return name


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Client:
    """One user agent: keeps the session cookie and CSRF token it was given."""

    def __init__(self, port, tls=False, src=None):
        self.port, self.tls = port, tls
        self.src = src  # a loopback address its connections come from (None: any)
        self.cookie = None
        self.csrf = None
        self.bearer = None

    def raw(self, method, target, body=None, headers=None):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=60, context=ctx,
                                            source_address=(self.src, 0) if self.src else None)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60,
                                           source_address=(self.src, 0) if self.src else None)
        try:
            c.putrequest(method, target, skip_accept_encoding=True)
            h = dict(headers or {})
            if body is not None and "Content-Length" not in h:
                h["Content-Length"] = str(len(body))
            for k, v in h.items():
                c.putheader(k, v)
            c.endheaders()
            if body is not None:
                c.send(body)
            r = c.getresponse()
            return Resp(r.status, r.getheaders(), r.read())
        finally:
            c.close()

    def call(self, method, path, obj=None, headers=None, csrf=True):
        h = dict(headers or {})
        body = None
        if obj is not None:
            body = json.dumps(obj).encode()
            h.setdefault("Content-Type", "application/json")
        if self.bearer:
            h["Authorization"] = f"Bearer {self.bearer}"
        elif self.cookie:
            h["Cookie"] = f"cv_session={self.cookie}"
            if csrf and self.csrf and method not in ("GET", "HEAD"):
                h["X-CSRF-Token"] = self.csrf
        return self.raw(method, path, body, h)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, obj=None, **kw):
        return self.call("POST", path, obj, **kw)

    def patch(self, path, obj=None, **kw):
        return self.call("PATCH", path, obj, **kw)

    def login(self, user, password=PASSWORD):
        r = self.post("/api/v1/login", {"user": user, "password": password})
        if r.status == 200:
            sc = r.header("Set-Cookie")
            self.cookie = sc.split(";")[0].split("=", 1)[1]
            self.csrf = r.json()["csrf_token"]
        return r


def logged_in(port, user, password=PASSWORD, tls=False):
    c = Client(port, tls=tls)
    r = c.login(user, password)
    assert r.status == 200, r
    return c


def refused(r, status, *words):
    """Assert that r is an error answer with `status` whose message holds every one of words;
    returns the message."""
    assert r.status == status, r
    err = r.json()["error"]
    for w in words:
        assert w in err, err
    return err


def audit_records(root, *args):
    return json.loads(cv("audit", "--json", *args, root=root).stdout)
