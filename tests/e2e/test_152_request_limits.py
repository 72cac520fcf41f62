"""Issue 19, finding 4: a resident cannot hold every camera. A footage request's place needs a
real match (whole words of a camera's name or location, or its id; "e" names nothing), and a
resident has at most request_open_max open requests, request_cameras_max cameras a request and
request_hours_max hours a window (camvault.conf; 3, 4 and 24 by default). Each refusal is one
JSON error naming the limit. An officer lists the provisional holds of pending requests
(GET /api/v1/holds?provisional=true, the Holds screen's "Provisional" view) and releases one.
No recorder runs: requests and holds need no footage.
"""
import json
import subprocess

import pytest

from conftest import CAMVAULT, cv
from httpapi import add_user, logged_in, refused, start_server
from uistack import browser_ready, node

T0 = 1767225600  # 2026-01-01 00:00 UTC
CAMS = [("gate-n", "North gate", "North gate, Qinghe Rd"), ("gate-s", "South gate", "South gate"),
        ("gate-e", "East gate", "East gate"), ("gate-w", "West gate", "West gate"),
        ("gate-r", "River gate", "Gate by the river"), ("alley", "Alley", "Building 12 alley")]


def body(hours=1, **kw):
    return {"from": f"@{T0}", "to": f"@{T0 + hours * 3600}", "description": "my bike", **kw}


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "root"
    cv("init", root=root)
    for cid, name, loc in CAMS:
        cv("camera", "add", cid, "--url", f"rtsp://127.0.0.1:9/{cid}", "--name", name, "--location", loc,
           root=root)
    for u, role in (("olga", "officer"), ("rita", "resident"), ("ravi", "resident")):
        add_user(root, u, role)
    procs = []

    def serve(conf=None):
        if conf is not None:
            (root / "camvault.conf").write_text(conf)
        for p in procs:
            p.close()
        procs.clear()
        srv = start_server(procs, root, tmp_path)
        return {u: logged_in(srv.port, u) for u in ("olga", "rita", "ravi")} | {"port": srv.port}

    try:
        yield root, serve
    finally:
        for p in reversed(procs):
            p.close()


def provisional(c):
    r = c.get("/api/v1/holds?provisional=true&active=true")
    assert r.status == 200, r
    return r.json()["holds"]


def test_place_needs_a_real_match(site):
    root, serve = site
    u = serve()
    rita = u["rita"]
    refused(rita.post("/api/v1/requests", body(place="e")), 400, "'e'", "too short")
    refused(rita.post("/api/v1/requests", body(place=" a ")), 400, "too short")
    refused(rita.post("/api/v1/requests", body(place="ast")), 400, "no camera", "'ast'")  # not a word
    err = refused(rita.post("/api/v1/requests", body(place="gate")), 400, "matches 5 cameras",
                  "request_cameras_max")
    assert "4" in err
    assert provisional(u["olga"]) == []  # nothing refused holds anything
    r = rita.post("/api/v1/requests", body(place="north gate"))
    assert r.status == 201 and r.json()["request"]["cameras"] == ["gate-n"], r
    r = rita.post("/api/v1/requests", body(place="the alley by building 12"))
    assert r.status == 201 and r.json()["request"]["cameras"] == ["alley"], r
    r = rita.post("/api/v1/requests", body(place="gate-r"))  # a camera id
    assert r.status == 201 and r.json()["request"]["cameras"] == ["gate-r"], r
    assert sorted(h["cameras"][0] for h in provisional(u["olga"])) == ["alley", "gate-n", "gate-r"]


def test_open_requests_and_hours_limited(site):
    root, serve = site
    u = serve()
    rita, ravi, olga = u["rita"], u["ravi"], u["olga"]
    refused(rita.post("/api/v1/requests", body(hours=25, camera="alley")), 400, "24 hours",
            "request_hours_max")
    ids = []
    for cam in ("alley", "gate-n", "gate-s"):
        r = rita.post("/api/v1/requests", body(hours=24, camera=cam))
        assert r.status == 201, r
        ids.append(r.json()["request"]["id"])
    refused(rita.post("/api/v1/requests", body(camera="gate-e")), 429, "3 open", "request_open_max")
    assert len(provisional(olga)) == 3
    assert ravi.post("/api/v1/requests", body(camera="gate-e")).status == 201  # per resident
    # A decided request is no longer open.
    assert olga.post(f"/api/v1/requests/{ids[0]}/reject", {"reason": "not visible"}).status == 200
    assert rita.post("/api/v1/requests", body(camera="gate-e")).status == 201
    refused(rita.post("/api/v1/requests", body(camera="gate-w")), 429, "request_open_max")


def test_limits_from_camvault_conf(site, tmp_path):
    root, serve = site
    u = serve("request_open_max = 1\nrequest_cameras_max = 5\nrequest_hours_max = 48\n")
    rita = u["rita"]
    r = rita.post("/api/v1/requests", body(hours=48, place="gate"))  # 5 cameras now allowed
    assert r.status == 201 and len(r.json()["request"]["cameras"]) == 5, r
    refused(rita.post("/api/v1/requests", body(camera="alley")), 429, "1 open", "request_open_max 1")
    (root / "camvault.conf").write_text("request_open_max = 0\n")
    r = subprocess.run([CAMVAULT, "serve", "--root", root, "--listen", "127.0.0.1:1"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0
    assert "request_open_max: expected a whole number from 1 to 100, not '0'" in r.stderr, r.stderr


def test_officer_lists_and_releases_provisional_holds(site):
    root, serve = site
    u = serve()
    rita, olga = u["rita"], u["olga"]
    a = rita.post("/api/v1/requests", body(camera="alley")).json()["request"]["id"]
    b = rita.post("/api/v1/requests", body(camera="gate-n")).json()["request"]["id"]
    c = rita.post("/api/v1/requests", body(camera="gate-s")).json()["request"]["id"]
    own = olga.post("/api/v1/holds", {"case": "C-9", "cameras": ["gate-w"], "from": f"@{T0}",
                                      "to": f"@{T0 + 60}"})
    assert own.status == 201, own
    assert olga.post(f"/api/v1/requests/{c}/approve", {}).status == 200  # now a case hold
    held = {h["case"]: h for h in provisional(olga)}
    assert sorted(held) == sorted([a, b]), held  # neither the officer's hold nor the approved one
    assert rita.get("/api/v1/holds?provisional=true").status == 403
    refused(olga.get("/api/v1/holds?provisional=yes"), 400, "'provisional'")
    r = olga.post(f"/api/v1/holds/{held[a]['id']}/release", {"reason": "too wide"})
    assert r.status == 200 and not r.json()["hold"]["active"], r
    assert [h["case"] for h in provisional(olga)] == [b]


@pytest.mark.skipif(browser_ready() is not None, reason=str(browser_ready()))
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_officer_releases_a_provisional_hold_in_the_browser(site, tmp_path, lang):
    root, serve = site
    u = serve()
    ids = [u["rita"].post("/api/v1/requests", body(camera=c)).json()["request"]["id"] for c in ("alley", "gate-n")]
    holds = {h["case"]: h["id"] for h in provisional(u["olga"])}
    cfg = {"base": f"http://127.0.0.1:{u['port']}", "officer": ["olga", "correct horse battery"],
           "release": holds[ids[0]], "lang": lang}
    (tmp_path / "holds.json").write_text(json.dumps(cfg))
    listed, released = node("ui-holds.mjs", tmp_path / "holds.json", tmp_path / "shots", timeout=300)
    assert listed["show"] == "provisional" and sorted(listed["rows"]) == sorted(holds.values()), listed
    note = {"en": "pending footage requests", "zh-CN": "待审的录像申请"}[lang]
    assert note in listed["text"] and ids[0] in listed["text"], listed["text"]
    assert released["rows"] == [holds[ids[1]]] and released["problems"] == [], released
    assert [h["case"] for h in provisional(u["olga"])] == [ids[1]]
