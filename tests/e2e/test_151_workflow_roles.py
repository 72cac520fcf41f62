"""Issue 5, acceptance 1 for the workflow endpoints (the table of test_101 continued): footage
requests, cases, export jobs and playback called as each role and as nobody get exactly the
expected status. A mediator outside their case gets 403, a resident asking for recorded video
403, and guessing another user's request or export id 404 (as for ids that do not exist).

No recorder runs: the footage-free answers (404 nothing recorded) are enough to show that the
role and scope checks pass or refuse before any footage is read.
"""
import pytest

from conftest import cv, fresh_root, wait_for
from httpapi import Client, add_user, logged_in, start_server

ROLES = ["admin", "officer", "mediator", "resident", None]
T0, T1 = 1767225600, 1767229200  # the mediator's case clip of 'priv'
IN = f"from=@{T0 + 60}&to=@{T0 + 120}"
OUT = f"from=@{T1 + 60}&to=@{T1 + 120}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with fresh_root(tmp_path_factory, "wfroles") as (tmp, root, procs):
        for role in ROLES[:4]:
            add_user(root, role, role)
        add_user(root, "other", "resident")
        cv("camera", "add", "pub", "--url", "rtsp://127.0.0.1:9/pub", "--public", root=root)
        cv("camera", "add", "priv", "--url", "rtsp://127.0.0.1:9/priv", root=root)
        srv = start_server(procs, root, tmp)
        c = {r: logged_in(srv.port, r) if r else Client(srv.port) for r in ROLES}
        other = logged_in(srv.port, "other")
        o = c["officer"]
        # Case C-1 with the mediator and a clip of priv; case C-2 without them.
        c1 = o.post("/api/v1/cases", {"title": "one", "members": ["mediator"]}).json()["case"]
        assert c1["id"] == "C-1"
        assert o.post("/api/v1/cases/C-1/clips", {"camera": "priv", "from": f"@{T0}",
                                                  "to": f"@{T1}"}).status == 201
        assert o.post("/api/v1/cases", {"title": "two"}).json()["case"]["id"] == "C-2"
        # R-1 by the resident, R-2 by another resident.
        for who in (c["resident"], other):
            r = who.post("/api/v1/requests", {"camera": "priv", "from": f"@{T0}",
                                             "to": f"@{T1}", "description": "x"})
            assert r.status == 201, r
        # An export of C-2 for the other resident (it fails: nothing recorded; that is fine).
        r = o.post("/api/v1/exports", {"case": "C-2", "cameras": ["priv"], "from": f"@{T0}",
                                       "to": f"@{T1}", "for_user": "other"})
        assert r.status == 202, r
        eid = r.json()["export"]["id"]
        wait_for(lambda: o.get(f"/api/v1/exports/{eid}").json()["export"]["status"] == "failed",
                 60, what="the export without footage to fail")
        yield {"root": root, "c": c, "other_export": r.json()["export"]["id"], "tmp": tmp}


def table(w):
    ox = w["other_export"]
    return [
        # footage requests
        ("GET", "/api/v1/requests", None, [403, 200, 403, 200, 401]),
        ("GET", "/api/v1/requests/R-1", None, [403, 200, 403, 200, 401]),
        ("GET", "/api/v1/requests/R-2", None, [403, 200, 403, 404, 401]),  # another's: 404
        ("GET", "/api/v1/requests/R-99", None, [403, 404, 403, 404, 401]),
        ("POST", "/api/v1/requests", {"camera": "pub", "from": f"@{T0}", "to": f"@{T1}",
                                      "description": "y"}, [403, 403, 403, 201, 401]),
        ("POST", "/api/v1/requests/R-2/reject", {"reason": "no"}, [403, 200, 403, 403, 401]),
        ("POST", "/api/v1/requests/R-99/approve", {}, [403, 404, 403, 403, 401]),
        # cases
        ("GET", "/api/v1/cases", None, [403, 200, 200, 403, 401]),
        ("POST", "/api/v1/cases", {"title": "t"}, [403, 201, 403, 403, 401]),
        ("GET", "/api/v1/cases/C-1", None, [403, 200, 200, 403, 401]),
        ("GET", "/api/v1/cases/C-2", None, [403, 200, 404, 403, 401]),  # not their case
        ("GET", "/api/v1/cases/C-99", None, [403, 404, 404, 403, 401]),
        ("PATCH", "/api/v1/cases/C-2", {"description": "d"}, [403, 200, 403, 403, 401]),
        ("POST", "/api/v1/cases/C-2/members", {"name": "mediator"}, [403, 200, 403, 403, 401]),
        ("DELETE", "/api/v1/cases/C-2/members/mediator", None, [403, 200, 403, 403, 401]),
        ("POST", "/api/v1/cases/C-2/clips", {"camera": "pub", "from": f"@{T0}", "to": f"@{T1}"},
         [403, 201, 403, 403, 401]),
        ("DELETE", "/api/v1/cases/C-2/clips/K1", None, [403, 200, 403, 403, 401]),
        ("GET", "/api/v1/cases/C-1/custody", None, [403, 200, 200, 403, 401]),
        ("GET", "/api/v1/cases/C-2/custody", None, [403, 200, 404, 403, 401]),
        # export jobs
        ("GET", "/api/v1/exports", None, [403, 200, 200, 200, 401]),
        ("GET", f"/api/v1/exports/{ox}", None, [403, 200, 404, 404, 401]),  # another's: 404
        ("GET", f"/api/v1/exports/{ox}/download", None, [403, 409, 404, 404, 401]),
        ("GET", "/api/v1/exports/20260101T000000Z-00000000", None, [403, 404, 404, 404, 401]),
        ("POST", "/api/v1/exports", {"case": "C-1", "cameras": ["priv"], "from": f"@{T0 + 60}",
                                     "to": f"@{T0 + 120}"}, [403, 202, 202, 403, 401]),
        ("POST", "/api/v1/exports", {"case": "C-1", "cameras": ["priv"], "from": f"@{T1 + 60}",
                                     "to": f"@{T1 + 120}"}, [403, 202, 403, 403, 401]),
        ("POST", "/api/v1/exports", {"case": "C-2", "cameras": ["priv"], "from": f"@{T0}",
                                     "to": f"@{T1}"}, [403, 202, 404, 403, 401]),
        ("POST", f"/api/v1/exports/{ox}/cancel", None, [403, 409, 404, 403, 401]),
        # playback: mediator inside their clip passes the scope (then nothing recorded: 404)
        ("GET", f"/api/v1/cameras/priv/video.mp4?{IN}", None, [403, 404, 404, 403, 401]),
        ("GET", f"/api/v1/cameras/priv/video.mp4?{OUT}", None, [403, 404, 403, 403, 401]),
        ("GET", f"/api/v1/cameras/pub/video.mp4?{IN}", None, [403, 404, 403, 403, 401]),
        ("GET", f"/api/v1/cameras/ghost/video.mp4?{IN}", None, [403, 404, 403, 403, 401]),
        ("GET", f"/api/v1/cameras/priv/snapshot.jpg?at=@{T0 + 90}", None,
         [403, 404, 404, 403, 401]),
        ("GET", f"/api/v1/cameras/priv/snapshot.jpg?at=@{T1 + 90}", None,
         [403, 404, 403, 403, 401]),
        ("GET", "/api/v1/cameras/priv/live.mp4", None, [404, 404, 403, 404, 401]),
        ("GET", "/api/v1/cameras/pub/live.mp4", None, [404, 404, 403, 404, 401]),
        ("GET", f"/api/v1/cameras/priv/timeline?{IN}", None, [200, 200, 200, 403, 401]),
        ("GET", f"/api/v1/cameras/priv/timeline?{OUT}", None, [200, 200, 403, 403, 401]),
        ("DELETE", "/api/v1/exports", None, [405, 405, 405, 405, 405]),
    ]


def test_every_workflow_endpoint_as_every_role(world):
    c = world["c"]
    failures = []
    for method, path, body, want in table(world):
        for role, expect in zip(ROLES, want):
            r = c[role].call(method, path, body)
            if r.status != expect:
                failures.append(f"{method} {path} as {role or 'nobody'}: {r.status}, want "
                                f"{expect}: {r.body[:200]!r}")
            elif r.status >= 400:
                assert r.header("Content-Type").startswith("application/json"), (path, r)
                assert r.json()["error"], (path, r)
    assert not failures, "\n".join(failures)
    assert cv("audit", "--verify", root=world["root"]).returncode == 0
