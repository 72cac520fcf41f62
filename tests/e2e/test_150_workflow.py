"""Issue 5, acceptance 2, 3 and 5 for the workflow endpoints: footage requests, cases, export jobs
and playback, against a recorder that is recording a simulated camera in 2-s segments.

- The request flow end to end: a resident files a request, the provisional hold exists at once,
  an officer approves it, the export job runs, the resident downloads the package (whole and by
  byte range) and `camvault verify` passes; a rejected request shows its reason to the resident
  and its hold is released. Another resident's request and export ids are 404.
- video.mp4 for a range spanning three segments decodes in ffmpeg without error, starts and ends
  at the right wall-clock times (X-Camvault-Start/End and the clip's own prft boxes), equals the
  CLI's working copy byte for byte, and a byte-range request returns 206 with the right bytes.
- live.mp4 streams the segment being written; snapshot.jpg is a JPEG.
- A mediator watches and exports only inside their case.
- Every view and export is in the audit log with user, time and target; the chain verifies.
- A server killed during an export never shows it as done without its package.
"""
import hashlib
import http.client
import io
import json
import signal
import subprocess
import time
import zipfile

import pytest

from conftest import (cv, decode_errors, fresh_root, query, start_camsim, start_recorder, top_boxes,
                      wait_for)
from httpapi import add_user, audit_records, logged_in, start_server


def at(us):
    return f"@{us / 1e6:.6f}"


def rfc_us(s):
    """µs since the epoch of an RFC 3339 UTC time with µs ('2026-...T..:..:..123456Z')."""
    import datetime
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 1000000 + d.microsecond


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with fresh_root(tmp_path_factory, "workflow") as (tmp, root, procs):
        sim = start_camsim(procs, tmp, cameras=2, name="c")
        cv("camera", "add", "gate", "--url", f"rtsp://127.0.0.1:{sim.port}/c1",
           "--location", "Building 12 alley", root=root)
        cv("camera", "add", "square", "--url", f"rtsp://127.0.0.1:{sim.port}/c2", "--public",
           "--location", "Market square", root=root)
        for name, role in [("admin", "admin"), ("olga", "officer"), ("mia", "mediator"),
                           ("carol", "resident"), ("dave", "resident")]:
            add_user(root, name, role)
        rec = start_recorder(procs, root, tmp, segment=2)
        wait_for(lambda: all(len(query(root, c)["segments"]) >= 6 for c in ("gate", "square")),
                 120, what="six segments per camera")
        srv = start_server(procs, root, tmp)
        users = {n: logged_in(srv.port, n) for n in ("admin", "olga", "mia", "carol", "dave")}
        yield {"root": root, "tmp": tmp, "srv": srv, "rec": rec, "u": users, "procs": procs}


def segs(w, cam="gate"):
    return query(w["root"], cam)["segments"]


def wait_export(client, eid, timeout=120):
    def done():
        e = client.get(f"/api/v1/exports/{eid}").json()["export"]
        return e if e["status"] in ("done", "failed", "canceled") else None
    return wait_for(done, timeout, what=f"export {eid} to finish")


@pytest.fixture
def w(world):
    return world


def test_request_flow_end_to_end(w):
    u, root = w["u"], w["root"]
    s = segs(w)
    frm, to = s[1]["start_us"], s[3]["end_us"]
    r = u["carol"].post("/api/v1/requests", {"camera": "gate", "from": at(frm), "to": at(to),
                                             "description": "my e-bike was stolen"})
    assert r.status == 201, r
    req = r.json()["request"]
    assert req["status"] == "pending" and req["by"] == "carol" and "hold" not in req
    rid = req["id"]
    # The provisional hold exists at once (the officer sees it): 14 days, this camera and range.
    full = u["olga"].get(f"/api/v1/requests/{rid}").json()["request"]
    hold = u["olga"].get(f"/api/v1/holds/{full['hold']}").json()["hold"]
    assert hold["active"] and hold["cameras"] == ["gate"] and hold["case"] == rid
    assert hold["from_us"] == frm and hold["to_us"] == to
    assert 13.9 * 86400e6 < hold["until_us"] - hold["created_us"] <= 14 * 86400e6
    # Residents see only their own requests.
    assert u["dave"].get(f"/api/v1/requests/{rid}").status == 404
    assert u["dave"].get("/api/v1/requests").json() == {"requests": []}
    assert [q["id"] for q in u["carol"].get("/api/v1/requests").json()["requests"]] == [rid]
    # The officer approves: a case, a case hold, an export for carol.
    r = u["olga"].post(f"/api/v1/requests/{rid}/approve", {})
    assert r.status == 200, r
    out = r.json()
    case, exp = out["case"], out["export"]
    assert out["request"]["status"] == "approved" and out["request"]["case"] == case["id"]
    assert exp["for_user"] == "carol" and exp["case"] == case["id"]
    assert case["clips"][0]["camera"] == "gate" and case["holds"] == [hold["id"]]
    h2 = u["olga"].get(f"/api/v1/holds/{hold['id']}").json()["hold"]
    assert h2["case"] == case["id"] and h2["until"] is None and h2["active"]
    assert u["olga"].post(f"/api/v1/requests/{rid}/approve", {}).status == 409
    # The resident follows the export and downloads it.
    e = wait_export(u["carol"], exp["id"])
    assert e["status"] == "done" and e["progress"] == 100, e
    assert u["dave"].get(f"/api/v1/exports/{exp['id']}").status == 404
    assert u["dave"].get(f"/api/v1/exports/{exp['id']}/download").status == 404
    assert u["dave"].get("/api/v1/exports").json() == {"exports": []}
    d = u["carol"].get(f"/api/v1/exports/{exp['id']}/download")
    assert d.status == 200 and d.header("Content-Type") == "application/zip"
    assert len(d.body) == e["bytes"] and hashlib.sha256(d.body).hexdigest() == e["sha256"]
    pkg = w["tmp"] / "carol.zip"
    pkg.write_bytes(d.body)
    v = cv("verify", pkg, "--json", root=None, check=False)
    assert v.returncode == 0, v.stdout + v.stderr
    names = zipfile.ZipFile(io.BytesIO(d.body)).namelist()
    custody = [n for n in names if n.endswith("custody/audit.log")]
    assert custody, names
    text = zipfile.ZipFile(io.BytesIO(d.body)).read(custody[0]).decode()
    assert '"action":"request-approve"' in text and '"action":"export-start"' in text
    sums = zipfile.ZipFile(io.BytesIO(d.body)).read(
        [n for n in names if n.endswith("/SHA256SUMS")][0]).decode()
    assert "custody/audit.log" in sums
    # Byte ranges.
    part = u["carol"].get(f"/api/v1/exports/{exp['id']}/download", headers={"Range": "bytes=100-199"})
    assert part.status == 206 and part.body == d.body[100:200]
    assert part.header("Content-Range") == f"bytes 100-199/{len(d.body)}"
    bad = u["carol"].get(f"/api/v1/exports/{exp['id']}/download",
                         headers={"Range": f"bytes={len(d.body)}-"})
    assert bad.status == 416 and bad.json()["error"]
    # Custody timeline of the case.
    cust = u["olga"].get(f"/api/v1/cases/{case['id']}/custody").json()["records"]
    acts = [a["action"] for a in cust]
    for a in ("case-create", "hold-add", "export-start", "request-approve", "export-done",
              "export-download"):
        assert a in acts, acts


def test_rejected_request_shows_reason(w):
    u = w["u"]
    s = segs(w)
    r = u["carol"].post("/api/v1/requests", {"place": "the alley by building 12",
                                             "from": at(s[0]["start_us"]),
                                             "to": at(s[1]["end_us"]),
                                             "description": "someone shouted"})
    assert r.status == 201, r
    req = r.json()["request"]
    assert req["cameras"] == ["gate"]  # matched by the camera's location
    hid = u["olga"].get(f"/api/v1/requests/{req['id']}").json()["request"]["hold"]
    assert u["olga"].get(f"/api/v1/holds/{hid}").json()["hold"]["active"]
    assert u["olga"].post(f"/api/v1/requests/{req['id']}/reject", {}).status == 400
    r = u["olga"].post(f"/api/v1/requests/{req['id']}/reject",
                       {"reason": "nothing visible in that range"})
    assert r.status == 200, r
    mine = u["carol"].get(f"/api/v1/requests/{req['id']}").json()["request"]
    assert mine["status"] == "rejected" and mine["reason"] == "nothing visible in that range"
    assert not u["olga"].get(f"/api/v1/holds/{hid}").json()["hold"]["active"]
    assert u["olga"].post(f"/api/v1/requests/{req['id']}/reject", {"reason": "x"}).status == 409
    # Bad requests say why.
    t0 = s[0]["start_us"]
    for body in [{"camera": "gate", "from": at(t0), "to": at(t0 + 8 * 86400e6), "description": "x"},
                 {"from": at(t0), "to": at(t0 + 60e6), "description": "x"},
                 {"camera": "ghost", "from": at(t0), "to": at(t0 + 60e6), "description": "x"},
                 {"camera": "gate", "from": "yesterday", "to": at(t0), "description": "x"},
                 {"camera": "gate", "from": at(t0), "to": at(t0 + 60e6), "description": ""},
                 {"camera": "gate", "from": at(t0), "to": at(t0 + 60e6), "description": "x",
                  "extra": 1}]:
        r = u["carol"].post("/api/v1/requests", body)
        assert r.status == 400 and r.json()["error"], (body, r)


def test_video_spanning_three_segments(w):
    u, root = w["u"], w["root"]
    s = segs(w)
    # From inside the second segment to inside the fourth: three segments.
    frm = s[1]["start_us"] + 500000
    to = s[3]["start_us"] + 500000
    path = f"/api/v1/cameras/gate/video.mp4?from={at(frm)}&to={at(to)}"
    r = u["olga"].get(path)
    assert r.status == 200 and r.header("Content-Type") == "video/mp4", r
    assert r.header("Accept-Ranges") == "bytes"
    f = w["tmp"] / "view.mp4"
    f.write_bytes(r.body)
    assert decode_errors(f) == ""
    start, end = rfc_us(r.header("X-Camvault-Start")), rfc_us(r.header("X-Camvault-End"))
    # Cut on GOP boundaries (2 s GOPs): starts at the GOP holding `from`, ends after `to`.
    assert s[1]["start_us"] <= start <= frm and frm - start < 2100000
    assert to <= end <= s[3]["end_us"] + 1000
    # The same bytes as the CLI's working copy of the range.
    cli = w["tmp"] / "cli.mp4"
    cv("clip", "gate", "--from", at(frm), "--to", at(to), "--out", cli, root=root)
    assert cli.read_bytes() == r.body
    # Three segments' fragments are in it.
    assert sum(1 for b in top_boxes(r.body, strict=False) if b[0] == "moof") >= 3
    # Byte ranges, including one across the last byte.
    n = len(r.body)
    for rng, want in [("bytes=1000-2999", r.body[1000:3000]), (f"bytes={n - 10}-", r.body[-10:]),
                      ("bytes=-100", r.body[-100:])]:
        p = u["olga"].get(path, headers={"Range": rng})
        assert p.status == 206 and p.body == want, (rng, p.status)
    assert u["olga"].get(path, headers={"Range": f"bytes={n}-"}).status == 416
    # Residents may not watch recordings; times with nothing recorded are 404; bad times 400.
    assert u["carol"].get(path).status == 403
    assert u["olga"].get("/api/v1/cameras/gate/video.mp4?from=@1000&to=@1060").status == 404
    assert u["olga"].get("/api/v1/cameras/gate/video.mp4?from=@1000&to=@999").status == 400
    assert u["olga"].get("/api/v1/cameras/gate/video.mp4?from=@0&to=@86400").status == 400


def test_snapshot_and_live(w):
    u = w["u"]
    s = segs(w)
    r = u["olga"].get(f"/api/v1/cameras/gate/snapshot.jpg?at={at(s[2]['start_us'] + 700000)}")
    assert r.status == 200 and r.header("Content-Type") == "image/jpeg"
    assert r.body[:2] == b"\xff\xd8" and r.body[-2:] == b"\xff\xd9"
    assert u["carol"].get(f"/api/v1/cameras/gate/snapshot.jpg?at={at(s[2]['start_us'])}").status \
        == 403
    # Live: the resident may watch the public camera, not the other one.
    assert u["carol"].get("/api/v1/cameras/gate/live.mp4").status == 404
    c = http.client.HTTPConnection("127.0.0.1", w["srv"].port, timeout=30)
    c.request("GET", "/api/v1/cameras/square/live.mp4",
              headers={"Cookie": f"cv_session={u['carol'].cookie}"})
    resp = c.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "video/mp4", resp.read()
    data = b""
    end = time.monotonic() + 40
    while (time.monotonic() < end
           and sum(1 for b in top_boxes(data, strict=False) if b[0] == "moof") < 4):
        data += resp.read1(65536)
    c.close()
    kinds = [b[0] for b in top_boxes(data, strict=False)]
    assert kinds[:2] == ["ftyp", "moov"], kinds[:5]
    # The newest fragment and those written after it, across segment boundaries (2-s segments
    # of one GOP each: every later fragment is in another file).
    assert kinds.count("moof") >= 4, kinds
    f = w["tmp"] / "live.mp4"
    moofs = [b for b in top_boxes(data, strict=False) if b[0] == "mdat"]
    f.write_bytes(data[:moofs[-1][1] + moofs[-1][2]])
    assert decode_errors(f) == ""


def test_mediator_only_inside_their_case(w):
    u = w["u"]
    s = segs(w)
    frm, to = s[1]["start_us"], s[2]["end_us"]
    r = u["olga"].post("/api/v1/cases", {"title": "Parking dispute", "members": ["mia"]})
    assert r.status == 201, r
    cid = r.json()["case"]["id"]
    r = u["olga"].post(f"/api/v1/cases/{cid}/clips", {"camera": "gate", "from": at(frm),
                                                      "to": at(to), "note": "the argument"})
    assert r.status == 201, r
    inside = f"from={at(frm + 100000)}&to={at(to - 100000)}"
    outside = f"from={at(s[4]['start_us'])}&to={at(s[4]['end_us'])}"
    m = u["mia"]
    assert m.get(f"/api/v1/cameras/gate/video.mp4?{inside}").status == 200
    assert m.get(f"/api/v1/cameras/gate/timeline?{inside}").status == 200
    assert m.get(f"/api/v1/cameras/gate/video.mp4?{outside}").status == 403
    assert m.get(f"/api/v1/cameras/gate/timeline?{outside}").status == 403
    assert m.get(f"/api/v1/cameras/square/video.mp4?{inside}").status == 403
    assert [c["id"] for c in m.get("/api/v1/cases").json()["cases"]] == [cid]
    # Export within the case: allowed; outside it: 403.
    r = m.post("/api/v1/exports", {"case": cid, "cameras": ["gate"], "from": at(frm),
                                   "to": at(to), "reason": "mediation"})
    assert r.status == 202, r
    e = wait_export(m, r.json()["export"]["id"])
    assert e["status"] == "done", e
    assert m.get(f"/api/v1/exports/{e['id']}/download").status == 200
    r = m.post("/api/v1/exports", {"case": cid, "cameras": ["gate"],
                                   "from": at(s[4]["start_us"]), "to": at(s[4]["end_us"])})
    assert r.status == 403, r
    # Removed from the case: nothing any more.
    assert u["olga"].call("DELETE", f"/api/v1/cases/{cid}/members/mia").status == 200
    assert m.get(f"/api/v1/cameras/gate/video.mp4?{inside}").status == 403
    assert m.get(f"/api/v1/cases/{cid}").status == 404
    assert m.get(f"/api/v1/exports/{e['id']}").status == 404


def test_cancel(w):
    u = w["u"]
    s = segs(w)
    cid = u["olga"].post("/api/v1/cases", {"title": "cancel me"}).json()["case"]["id"]
    r = u["olga"].post("/api/v1/exports", {"case": cid, "cameras": ["gate", "square"],
                                           "from": at(s[0]["start_us"]),
                                           "to": at(s[-1]["end_us"])})
    assert r.status == 202, r
    eid = r.json()["export"]["id"]
    c = u["olga"].post(f"/api/v1/exports/{eid}/cancel")
    if c.status == 200:  # it may have finished already on a fast machine
        e = wait_export(u["olga"], eid)
        assert e["status"] == "canceled", e
        assert u["olga"].get(f"/api/v1/exports/{eid}/download").status == 409
    else:
        assert c.status == 409


def test_every_view_and_export_is_audited(w):
    root = w["root"]
    recs = audit_records(root)
    by = {}
    for a in recs:
        by.setdefault(a["action"], []).append(a)
    for action in ("request-file", "request-approve", "request-reject", "hold-add",
                   "hold-release", "export-start", "export-done", "export-download",
                   "view-video", "view-snapshot", "view-live", "case-create", "case-clip-add"):
        assert action in by, (action, sorted(by))
    for a in by["view-video"]:
        assert a["user"] in ("olga", "mia") and a["target"].startswith("camera gate ")
        assert a["time_us"] > 0
    assert {a["user"] for a in by["export-download"]} >= {"carol", "mia"}
    assert all(a["case"] for a in by["export-download"])
    assert any(a["user"] == "carol" and a["target"] == "camera square live"
               for a in by["view-live"])
    assert cv("audit", "--verify", root=root).returncode == 0


def test_server_killed_mid_export_never_shows_done(w):
    u, root, procs = w["u"], w["root"], w["procs"]
    s = segs(w)
    cid = u["olga"].post("/api/v1/cases", {"title": "kill"}).json()["case"]["id"]
    r = u["olga"].post("/api/v1/exports", {"case": cid, "cameras": ["gate", "square"],
                                           "from": at(s[0]["start_us"]),
                                           "to": at(s[-1]["end_us"])})
    eid = r.json()["export"]["id"]
    w["srv"].send(signal.SIGKILL)
    w["srv"].p.wait()
    srv = start_server(procs, root, w["tmp"], name="serve2")
    w["srv"] = srv
    for n in list(u):
        u[n] = logged_in(srv.port, n)
    e = u["olga"].get(f"/api/v1/exports/{eid}").json()["export"]
    pkg = root / "exports" / cid / f"{eid}.zip"
    assert e["status"] in ("done", "failed"), e
    if e["status"] == "failed":
        assert e["error"] == "server stopped" and not pkg.exists()
        assert not pkg.with_name(pkg.name + ".tmp").exists()
        assert u["olga"].get(f"/api/v1/exports/{eid}/download").status == 409
    else:
        assert cv("verify", pkg, check=False).returncode == 0
