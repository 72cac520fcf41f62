"""Issue 5, acceptance 1 (the endpoints built so far): every endpoint called as each role and as
nobody gets exactly the expected status. The table is the roles column of docs/api.md; a
mediator (no cases yet) is refused every camera and range (403), a resident sees only public
cameras and no recordings, unknown paths are 404 and wrong methods 405 for everyone.
"""
import pytest

from conftest import cv
from httpapi import Client, add_user, audit_records, logged_in, start_server

ROLES = ["admin", "officer", "mediator", "resident", None]
TL = "/api/v1/cameras/{cam}/timeline?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00%2B08:00"


def body_for(role, kind, tmp_path):
    tag = role or "nobody"
    return {
        "user": {"name": f"new-{tag}", "role": "resident", "password": "a long password"},
        "camera": {"id": f"cam-{tag}", "url": "rtsp://127.0.0.1:9/x", "public": False},
        "hold": {"case": "K-7", "cameras": ["priv"], "from": "@1767225600", "to": "@1767229200",
                 "reason": "table test"},
        "volume": {"name": f"vol-{tag}", "path": str(tmp_path / "vols")},
    }.get(kind)


# (method, path, body kind, [admin, officer, mediator, resident, nobody])
TABLE = [
    ("GET", "/api/v1/me", None, [200, 200, 200, 200, 401]),
    ("GET", "/api/v1/users", None, [200, 403, 403, 403, 401]),
    ("POST", "/api/v1/users", "user", [201, 403, 403, 403, 401]),
    ("GET", "/api/v1/users/officer", None, [200, 403, 403, 403, 401]),
    ("GET", "/api/v1/users/ghost", None, [404, 403, 403, 403, 401]),
    ("PATCH", "/api/v1/users/resident", {"disabled": False}, [200, 403, 403, 403, 401]),
    ("GET", "/api/v1/cameras", None, [200, 200, 200, 200, 401]),
    ("POST", "/api/v1/cameras", "camera", [201, 403, 403, 403, 401]),
    ("GET", "/api/v1/cameras/pub", None, [200, 200, 403, 200, 401]),
    ("GET", "/api/v1/cameras/priv", None, [200, 200, 403, 404, 401]),
    ("GET", "/api/v1/cameras/ghost", None, [404, 404, 403, 404, 401]),
    ("PATCH", "/api/v1/cameras/pub", {"name": "Square"}, [200, 403, 403, 403, 401]),
    ("GET", TL.format(cam="priv"), None, [200, 200, 403, 403, 401]),
    ("GET", TL.format(cam="pub"), None, [200, 200, 403, 403, 401]),
    ("GET", TL.format(cam="ghost"), None, [404, 404, 403, 403, 401]),
    ("GET", "/api/v1/holds", None, [200, 200, 403, 403, 401]),
    ("GET", "/api/v1/holds/1", None, [200, 200, 403, 403, 401]),
    ("GET", "/api/v1/holds/999", None, [404, 404, 403, 403, 401]),
    ("GET", "/api/v1/holds/x1", None, [404, 404, 403, 403, 401]),
    ("POST", "/api/v1/holds", "hold", [403, 201, 403, 403, 401]),
    ("POST", "/api/v1/holds/2/release", None, [403, 200, 403, 403, 401]),
    ("GET", "/api/v1/retention", None, [200, 403, 403, 403, 401]),
    ("GET", "/api/v1/volumes", None, [200, 403, 403, 403, 401]),
    ("POST", "/api/v1/volumes", "volume", [201, 403, 403, 403, 401]),
    ("PATCH", "/api/v1/volumes/main", {"max_bytes": 0}, [200, 403, 403, 403, 401]),
    ("GET", "/api/v1/audit", None, [200, 403, 403, 403, 401]),
    ("GET", "/api/v1/audit/verify", None, [200, 403, 403, 403, 401]),
    ("GET", "/healthz", None, [200, 200, 200, 200, 200]),
    ("GET", "/metrics", None, [200, 200, 200, 200, 200]),
    ("GET", "/", None, [200, 200, 200, 200, 200]),
    ("GET", "/api/v1/nothing-here", None, [404, 404, 404, 404, 404]),
    ("DELETE", "/api/v1/cameras", None, [405, 405, 405, 405, 405]),
    ("PUT", "/api/v1/login", None, [405, 405, 405, 405, 405]),
    ("POST", "/api/v1/logout", None, [200, 200, 200, 200, 401]),
]


@pytest.fixture
def world(root, tmp_path, procs):
    for role in ROLES[:4]:
        add_user(root, role, role)
    cv("camera", "add", "pub", "--url", "rtsp://127.0.0.1:9/pub", "--public", root=root)
    cv("camera", "add", "priv", "--url", "rtsp://user:secret@127.0.0.1:9/priv", root=root)
    for _ in range(2):
        cv("hold", "add", "--case", "K-1", "--camera", "priv", "--from", "@1767225600", "--to",
           "@1767232800", root=root)
    (tmp_path / "vols").mkdir()
    srv = start_server(procs, root, tmp_path)
    clients = {r: logged_in(srv.port, r) if r else Client(srv.port) for r in ROLES}
    return srv, clients


def test_every_endpoint_as_every_role(world, root, tmp_path):
    srv, clients = world
    failures = []
    for method, path, body, want in TABLE:
        for role, expect in zip(ROLES, want):
            obj = body_for(role, body, tmp_path) if isinstance(body, str) else body
            r = clients[role].call(method, path, obj)
            if r.status != expect:
                failures.append(f"{method} {path} as {role or 'nobody'}: {r.status}, want "
                                f"{expect}: {r.body[:200]!r}")
            elif r.status >= 400 and path != "/":
                # Every refusal is a JSON error that says why.
                assert r.header("Content-Type").startswith("application/json"), (path, r)
                assert r.json()["error"], (path, r)
    assert not failures, "\n".join(failures)
    # The views of footage are in the audit log with user, time and target.
    views = [a for a in audit_records(root) if a["action"] == "view-timeline"]
    assert {(v["user"], v["role"]) for v in views} == {("admin", "admin"),
                                                        ("officer", "officer")}
    assert any(v["target"].startswith("camera priv 2026-01-01T00:00:00.000Z..") for v in views)
    assert all(v["time_us"] > 0 for v in views)
    assert cv("audit", "--verify", root=root).returncode == 0


def test_what_each_role_sees(world, root):
    srv, clients = world
    res = clients["resident"].get("/api/v1/cameras").json()["cameras"]
    assert res == [{"id": "pub", "name": "", "location": "", "public": True, "area": None,
                    "video_codec": None, "online": False}]
    off = {c["id"]: c for c in clients["officer"].get("/api/v1/cameras").json()["cameras"]}
    assert set(off) == {"pub", "priv"} and "url" not in off["priv"]
    adm = {c["id"]: c for c in clients["admin"].get("/api/v1/cameras").json()["cameras"]}
    assert adm["priv"]["url"] == "rtsp://user:***@127.0.0.1:9/priv"  # never the camera password
    assert clients["mediator"].get("/api/v1/cameras").json() == {"cameras": []}
    tl = clients["officer"].get(TL.format(cam="priv")).json()
    assert tl["camera"] == "priv" and [h["id"] for h in tl["holds"]] == [1, 2]
    assert tl["from"] == "2026-01-01T00:00:00.000000Z" and tl["to_us"] == 1767283200000000
    assert tl["segments"] == [] and tl["gaps"] == []
