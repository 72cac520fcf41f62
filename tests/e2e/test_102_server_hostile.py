"""Issue 5, acceptance 4 (the core): hostile input is refused with the right status and a JSON
error that says why, and the server stays up: path traversal in static paths, oversized
request targets, headers and bodies, malformed JSON, wrong content types, bad times, unknown
ids, wrong methods.
"""
import os
import socket

import pytest

from conftest import cv
from httpapi import Client, add_user, logged_in, start_server


@pytest.fixture
def srv(root, tmp_path, procs):
    web = tmp_path / "web"
    (web / "js").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>t</title>")
    (web / "js" / "app.js").write_text("console.log(1)")
    (web / ".secret").write_text("dotfile")
    (tmp_path / "outside.txt").write_text("outside the web directory")
    os.symlink(tmp_path / "outside.txt", web / "leak.txt")
    add_user(root, "olga", "officer")
    add_user(root, "adam", "admin")
    cv("camera", "add", "c1", "--url", "rtsp://127.0.0.1:9/x", root=root)
    return start_server(procs, root, tmp_path, extra=["--web", web])


def refused(r, status, why):
    assert r.status == status, r
    assert r.header("Content-Type").startswith("application/json"), r
    assert why in r.json()["error"], r


def test_static_files_and_traversal(srv):
    c = Client(srv.port)
    r = c.raw("GET", "/")
    assert r.status == 200 and r.header("Content-Type").startswith("text/html")
    r = c.raw("GET", "/js/app.js")
    assert r.status == 200 and r.body == b"console.log(1)"
    assert r.header("Content-Type").startswith("text/javascript")
    assert r.header("X-Content-Type-Options") == "nosniff"
    for path in ["/../../../../etc/passwd", "/js/../../outside.txt", "/%2e%2e/%2e%2e/etc/passwd",
                 "/js/..%2f..%2foutside.txt", "/..%5c..%5coutside.txt", "/.secret", "/leak.txt",
                 "/js", "/missing.html"]:
        r = c.raw("GET", path)
        refused(r, 404, "not found")
        assert b"outside" not in r.body and b"root:" not in r.body
    refused(c.raw("GET", "/a%00b"), 400, "percent-encoding")
    refused(c.raw("GET", "/a%zz"), 400, "percent-encoding")
    r = c.raw("POST", "/index.html", b"{}", {"Content-Type": "application/json"})
    refused(r, 405, "read-only")


def test_oversized_requests(srv):
    c = Client(srv.port)
    refused(c.raw("GET", "/api/v1/cameras?x=" + "a" * 3000), 414, "longer than 2048")
    refused(c.raw("GET", "/healthz", headers={"X-Big": "b" * 5000}), 431, "header is longer")
    many = {f"X-H{i}": "h" * 1000 for i in range(12)}
    refused(c.raw("GET", "/healthz", headers=many), 431, "in total")
    # Far past the per-connection memory: libmicrohttpd itself refuses it.
    r = c.raw("GET", "/healthz", headers={f"X-Huge{i}": "h" * 4000 for i in range(40)})
    assert r.status in (413, 431), r
    refused(c.raw("POST", "/api/v1/login", b"{" * 70000, {"Content-Type": "application/json"}),
            413, "over the limit")
    # A chunked body has no Content-Length: what passes the limit is dropped, then 413.
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"8000\r\n" + b" " * 0x8000 + b"\r\n"
    answer = b""
    try:
        for _ in range(4):
            s.sendall(chunk)
        s.sendall(b"0\r\n\r\n")
        s.settimeout(30)
        while b"\r\n\r\n" not in answer:
            got = s.recv(4096)
            if not got:
                break
            answer += got
    except (BrokenPipeError, ConnectionResetError):
        answer += s.recv(4096)
    s.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_malformed_bodies(srv):
    c = Client(srv.port)
    login = "/api/v1/login"
    for body, why in [(b'{"user": "olga", "password": ', "JSON: unexpected end"),
                      (b'{"user":"a","user":"b","password":"x"}', "duplicate key 'user'"),
                      (b'{"user":"a","password":"x","admin":true}', "unknown field 'admin'"),
                      (b'{"user":1,"password":"x"}', "field 'user': expected a string"),
                      (b'["olga"]', "expected a JSON object"),
                      (b'{"user":"a\\u0000b","password":"x"}', "NUL"),
                      (b'\xff\xfe', "JSON: unexpected character")]:
        refused(c.raw("POST", login, body, {"Content-Type": "application/json"}), 400, why)
    refused(c.raw("POST", login, b"user=olga", {"Content-Type": "application/x-www-form-urlencoded"}),
            415, "must be JSON")
    o = logged_in(srv.port, "olga")
    refused(o.post("/api/v1/holds", {"case": "K", "cameras": "c1", "from": "@1", "to": "@2"}), 400,
            "field 'cameras'")
    refused(o.post("/api/v1/holds", {"case": "K", "cameras": ["../x"], "from": "@1", "to": "@2"}),
            400, "field 'cameras'")
    refused(o.post("/api/v1/holds", {"case": "K", "cameras": ["ghost"], "from": "@1", "to": "@2"}),
            400, "unknown camera 'ghost'")
    refused(o.post("/api/v1/holds", {"case": "K", "cameras": ["c1"], "from": "noon", "to": "@2"}),
            400, "field 'from'")


def test_bad_times_and_unknown_ids(srv):
    o = logged_in(srv.port, "olga")
    a = logged_in(srv.port, "adam")
    tl = "/api/v1/cameras/c1/timeline"
    refused(o.get(tl), 400, "missing query parameter 'from'")
    refused(o.get(tl + "?from=yesterday&to=@2"), 400, "query parameter 'from'")
    refused(o.get(tl + "?from=2026-11-22T09:30:00&to=@2"), 400, "'from'")  # no zone
    refused(o.get(tl + "?from=@200&to=@100"), 400, "'to' must be after 'from'")
    refused(o.get(tl + "?from=@0&to=@99999999"), 400, "at most 31 days")
    refused(o.get("/api/v1/cameras/ghost/timeline?from=@1&to=@2"), 404, "unknown camera 'ghost'")
    refused(o.get("/api/v1/holds/424242"), 404, "424242")
    refused(o.post("/api/v1/holds/424242/release"), 404, "424242")
    refused(a.get("/api/v1/users/ghost"), 404, "unknown user 'ghost'")
    refused(a.patch("/api/v1/cameras/ghost", {"name": "x"}), 404, "ghost")
    refused(a.patch("/api/v1/cameras/c1", {"volume": "nowhere"}), 400, "volume")
    refused(a.patch("/api/v1/cameras/c1", {"retention_days": -1}), 400, "retention_days")
    refused(a.post("/api/v1/cameras", {"id": "c1", "url": "rtsp://h/x"}), 409, "exists already")
    refused(a.post("/api/v1/cameras", {"id": "c/2", "url": "rtsp://h/x"}), 400, "camera")
    refused(a.post("/api/v1/cameras", {"id": "c2", "url": "http://h/x"}), 400, "rtsp://")
    refused(a.post("/api/v1/users", {"name": "Bad Name", "role": "admin"}), 400, "user name")
    refused(a.post("/api/v1/users", {"name": "x1", "role": "god"}), 400, "unknown role 'god'")
    refused(a.get("/api/v1/audit?limit=0"), 400, "'limit'")
    refused(a.get("/api/v1/audit?since=later"), 400, "'since'")
    r = a.call("DELETE", "/api/v1/users")
    refused(r, 405, "not allowed")
    assert r.header("Allow") == "GET, POST"
    # After all that the server is up and the audit chain is intact.
    assert srv.running()
    assert Client(srv.port).raw("GET", "/healthz").status == 200
    assert a.get("/api/v1/audit/verify").json()["ok"] is True
