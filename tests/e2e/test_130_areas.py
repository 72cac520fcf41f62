"""Issue 13, acceptance 1: area scoping. A county with two towns (and a village under one of
them); an officer of each town, a county admin, a site admin with no area and a resident of a
town. Every endpoint and the CLI listing shows each only their area's cameras: what lies
outside is 404 on paths (its existence does not leak), missing from lists, unknown in bodies;
the audit records the acting user's area and the chain still verifies.
"""
import json

import pytest

from conftest import cv
from httpapi import add_user, audit_records, logged_in, start_server

T0, T1 = 1767225600, 1767229200  # 2026-01-01 00:00..01:00 UTC
TL = "/api/v1/cameras/{}/timeline?from=@%d&to=@%d" % (T0, T1)

# camera -> (area, public)
CAMERAS = {"a1": ("village-a1", True), "a2": ("town-a", False), "b1": ("town-b", True),
           "site": (None, True)}


@pytest.fixture
def world(root, tmp_path, procs):
    cv("area", "add", "county", "--name", "The county", root=root)
    for town in ("town-a", "town-b"):
        cv("area", "add", town, "--name", town.title(), "--parent", "county", root=root)
    cv("area", "add", "village-a1", "--name", "Village A1", "--parent", "town-a", root=root)
    for cam, (area, pub) in CAMERAS.items():
        cv("camera", "add", cam, "--url", f"rtsp://127.0.0.1:9/{cam}",
           *(["--area", area] if area else []), *(["--public"] if pub else []), root=root)
    for name, role, area in (("off-a", "officer", "town-a"), ("off-b", "officer", "town-b"),
                             ("adm-c", "admin", "county"), ("admin", "admin", None),
                             ("res-a", "resident", None)):
        add_user(root, name, role)
        if area:
            cv("user", "edit", name, "--area", area, root=root)
    cv("user", "edit", "res-a", "--area", "town-a", "--address", "Building 12, Lane 3", root=root)
    for cam in ("a2", "b1"):  # hold 1 on town A's camera, hold 2 on town B's
        cv("hold", "add", "--case", "K-1", "--camera", cam, "--from", f"@{T0}", "--to", f"@{T1}",
           root=root)
    srv = start_server(procs, root, tmp_path)
    return {u: logged_in(srv.port, u) for u in ("off-a", "off-b", "adm-c", "admin", "res-a")}


def ids(resp, key):
    assert resp.status == 200, resp
    return {x.get("id", x.get("name")) for x in resp.json()[key]}


def test_each_sees_only_their_area(world, root):
    c = world
    # Areas and cameras in scope.
    assert ids(c["adm-c"].get("/api/v1/areas"), "areas") == {"county", "town-a", "town-b",
                                                             "village-a1"}
    assert ids(c["off-a"].get("/api/v1/areas"), "areas") == {"town-a", "village-a1"}
    assert ids(c["off-b"].get("/api/v1/areas"), "areas") == {"town-b"}
    seen = {u: ids(c[u].get("/api/v1/cameras"), "cameras") for u in c}
    assert seen == {"off-a": {"a1", "a2"}, "off-b": {"b1"}, "adm-c": {"a1", "a2", "b1"},
                    "admin": {"a1", "a2", "b1", "site"}, "res-a": {"a1"}}
    cams = {x["id"]: x for x in c["admin"].get("/api/v1/cameras").json()["cameras"]}
    assert {k: v["area"] for k, v in cams.items()} == {k: a for k, (a, _) in CAMERAS.items()}
    me = c["res-a"].get("/api/v1/me").json()["user"]
    assert me["area"] == "town-a" and me["address"] == "Building 12, Lane 3"

    # Camera-bound paths outside the scope are 404 (where the role may call them at all).
    bound = [("/api/v1/cameras/{}", "AOR"), (TL, "AO"),
             ("/api/v1/cameras/{}/video.mp4?from=@%d&to=@%d" % (T0, T1), "O"),
             ("/api/v1/cameras/{}/live.mp4", "AOR"), ("/api/v1/cameras/{}/live.m3u8", "AOR"),
             ("/api/v1/cameras/{}/snapshot.jpg?at=@%d" % T0, "O")]
    role = {"off-a": "O", "off-b": "O", "adm-c": "A", "res-a": "R"}
    for path, roles in bound:
        for who, cam in (("off-a", "b1"), ("off-b", "a1"), ("off-b", "a2"), ("adm-c", "site"),
                         ("res-a", "b1")):
            r = c[who].get(path.format(cam))
            assert r.status == (404 if role[who] in roles else 403), (who, path.format(cam), r)
            if r.status == 404:
                assert r.json()["error"] == f"unknown camera '{cam}'", r
    for who, cam in (("off-a", "a1"), ("off-a", "a2"), ("off-b", "b1"), ("adm-c", "b1")):
        assert c[who].get(TL.format(cam)).status == 200, (who, cam)
    assert c["off-a"].patch("/api/v1/cameras/b1", {"name": "x"}).status == 403  # role first
    assert c["adm-c"].patch("/api/v1/cameras/site", {"name": "x"}).status == 404
    assert c["adm-c"].patch("/api/v1/cameras/b1", {"area": "town-a"}).status == 200
    assert c["adm-c"].patch("/api/v1/cameras/b1", {"area": "town-b"}).status == 200
    assert c["adm-c"].patch("/api/v1/cameras/b1", {"area": None}).status == 403  # cannot leave

    # A county admin's new camera and user land in the county unless placed lower; an area
    # outside the scope is unknown.
    r = c["adm-c"].post("/api/v1/cameras", {"id": "c1", "url": "rtsp://127.0.0.1:9/c1"})
    assert r.status == 201 and r.json()["camera"]["area"] == "county", r
    r = c["adm-c"].post("/api/v1/cameras", {"id": "c2", "url": "rtsp://127.0.0.1:9/c2",
                                            "area": "elsewhere"})
    assert r.status == 404 and "unknown area 'elsewhere'" in r.json()["error"], r
    r = c["adm-c"].post("/api/v1/users", {"name": "off-a2", "role": "officer", "area": "town-a"})
    assert r.status == 201 and r.json()["user"]["area"] == "town-a", r
    assert "address" not in r.json()["user"]
    assert ids(c["adm-c"].get("/api/v1/users"), "users") == {"off-a", "off-b", "adm-c", "res-a",
                                                             "off-a2"}
    assert c["adm-c"].get("/api/v1/users/admin").status == 404
    assert c["admin"].get("/api/v1/users/admin").status == 200

    # Holds, requests, cases: lists filtered, paths 404, bodies naming other cameras refused.
    assert ids(c["off-a"].get("/api/v1/holds"), "holds") == {1}
    assert ids(c["off-b"].get("/api/v1/holds"), "holds") == {2}
    assert c["off-a"].get("/api/v1/holds/2").status == 404
    assert c["off-a"].post("/api/v1/holds/2/release", {}).status == 404
    r = c["off-a"].post("/api/v1/holds", {"case": "K-2", "cameras": ["b1"], "from": f"@{T0}",
                                          "to": f"@{T1}", "reason": "x"})
    assert r.status == 400 and "unknown camera 'b1'" in r.json()["error"], r
    r = c["res-a"].post("/api/v1/requests", {"camera": "b1", "from": f"@{T0}", "to": f"@{T1}",
                                             "description": "my bike"})
    assert r.status == 400 and "unknown camera 'b1'" in r.json()["error"], r
    r = c["res-a"].post("/api/v1/requests", {"camera": "a1", "from": f"@{T0}", "to": f"@{T1}",
                                             "description": "my bike"})
    assert r.status == 201, r
    rq = r.json()["request"]["id"]
    assert ids(c["off-a"].get("/api/v1/requests"), "requests") == {rq}
    assert ids(c["off-b"].get("/api/v1/requests"), "requests") == set()
    assert c["off-b"].get(f"/api/v1/requests/{rq}").status == 404
    assert c["off-b"].post(f"/api/v1/requests/{rq}/reject", {"reason": "no"}).status == 404
    ca = c["off-a"].post("/api/v1/cases", {"title": "town A"}).json()["case"]["id"]
    assert c["off-a"].post(f"/api/v1/cases/{ca}/clips", {"camera": "a2", "from": f"@{T0}",
                                                         "to": f"@{T1}"}).status == 201
    assert c["off-a"].post(f"/api/v1/cases/{ca}/clips", {"camera": "b1", "from": f"@{T0}",
                                                         "to": f"@{T1}"}).status == 400
    assert ca in ids(c["off-a"].get("/api/v1/cases"), "cases")
    assert ca not in ids(c["off-b"].get("/api/v1/cases"), "cases")
    assert c["off-b"].get(f"/api/v1/cases/{ca}").status == 404
    r = c["off-b"].post("/api/v1/exports", {"case": ca, "cameras": ["a2"], "from": f"@{T0}",
                                            "to": f"@{T1}"})
    assert r.status in (400, 404), r
    assert [x["camera"] for x in c["adm-c"].get("/api/v1/retention").json()["cameras"]] == [
        "a1", "a2", "b1", "c1"]

    # The audit: each entry names the acting user's area; a county admin reads only the
    # entries of the county's users; the chain verifies.
    recs = audit_records(root)
    views = {(a["user"], a["area"]) for a in recs if a["action"] == "view-timeline"}
    assert views == {("off-a", "town-a"), ("off-b", "town-b"), ("adm-c", "county")}, views
    assert {a["area"] for a in recs if a["user"] == "res-a" and a["action"] == "login"} == {
        "town-a"}
    county = c["adm-c"].get("/api/v1/audit?limit=1000").json()["records"]
    assert county and {a["area"] for a in county} <= {"county", "town-a", "town-b", "village-a1"}
    assert {a["user"] for a in county} == {"off-a", "off-b", "adm-c", "res-a"}
    site = c["admin"].get("/api/v1/audit?limit=1000").json()["records"]
    assert any(a["area"] is None for a in site) and len(site) > len(county)
    assert cv("audit", "--verify", root=root).returncode == 0


def test_cli_areas(world, root):
    def listed(*args):
        return {x["id"] for x in json.loads(cv("camera", "list", *args, "--json", root=root).stdout)}

    assert listed("--area", "town-a") == {"a1", "a2"}
    assert listed("--area", "town-b") == {"b1"}
    assert listed("--area", "county") == {"a1", "a2", "b1"}
    assert listed() == set(CAMERAS)
    assert json.loads(cv("camera", "show", "a1", "--json", root=root).stdout)["area"] == "village-a1"
    assert json.loads(cv("camera", "show", "site", "--json", root=root).stdout)["area"] is None
    areas = {a["id"]: a for a in json.loads(cv("area", "list", "--json", root=root).stdout)}
    assert {k: v["parent"] for k, v in areas.items()} == {
        "county": None, "town-a": "county", "town-b": "county", "village-a1": "town-a"}
    users = {u["name"]: u for u in json.loads(cv("user", "list", "--json", root=root).stdout)}
    assert users["off-b"]["area"] == "town-b" and users["res-a"]["address"] == "Building 12, Lane 3"

    # Refusals: one line naming the thing and the cause.
    for args, msg in ((("area", "remove", "town-a"), "area 'town-a' is in use by camera 'a2'"),
                      (("area", "remove", "county"), "area 'county' is in use by user 'adm-c'"),
                      (("area", "add", "x", "--name", "X", "--parent", "nowhere"),
                       "unknown area 'nowhere'"),
                      (("area", "add", "town-a", "--name", "again"), "area 'town-a' already exists"),
                      (("camera", "edit", "a1", "--area", "nowhere"), "unknown area 'nowhere'"),
                      (("user", "edit", "off-a", "--address", "x"), "only residents")):
        r = cv(*args, root=root, check=False)
        assert r.returncode != 0 and msg in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
    # Areas and who is in them survive a backup and restore (the index is copied whole).
    bak, new = root.parent / "bak", root.parent / "restored"
    cv("backup", "--out", bak, root=root)
    cv("restore", bak, "--volumes", root / "volumes", root=new)
    assert json.loads(cv("area", "list", "--json", root=new).stdout) == list(areas.values())
    assert json.loads(cv("camera", "show", "a2", "--json", root=new).stdout)["area"] == "town-a"
    moved = {u["name"]: u for u in json.loads(cv("user", "list", "--json", root=new).stdout)}
    assert moved["res-a"]["address"] == "Building 12, Lane 3"

    cv("camera", "edit", "b1", "--area", "", root=root)
    cv("user", "edit", "off-b", "--area", "", root=root)
    cv("area", "remove", "town-b", root=root)
    assert "town-b" not in {a["id"] for a in json.loads(cv("area", "list", "--json",
                                                           root=root).stdout)}
    assert any(a["action"] == "area-remove" and a["target"] == "town-b"
               for a in audit_records(root))


def test_older_root_reads_without_areas(tmp_path):
    """A root no camvault with areas has opened yet: read-only commands (fsck's check, backup)
    see no areas instead of refusing an "older schema"; the first read-write open adds them."""
    import tarfile
    from pathlib import Path
    root = tmp_path / "prev"
    root.mkdir()
    with tarfile.open(Path(__file__).resolve().parent / "data" /
                      "release-696cad9-root.tar.gz") as t:
        t.extractall(root)
    r = cv("fsck", root=root, check=False)
    assert r.returncode == 0 and ", 0 findings" in r.stdout, (r.stdout, r.stderr)
    assert json.loads(cv("area", "list", "--json", root=root).stdout) == []
    cv("area", "add", "county", "--name", "The county", root=root)
    assert cv("fsck", root=root).returncode == 0


def _covered(segs, lo, hi):
    """Seconds of [lo, hi) (µs) covered by the union of segments."""
    spans = sorted((max(s["start_us"], lo), min(s["end_us"], hi)) for s in segs)
    total, end = 0, lo
    for a, b in spans:
        a = max(a, end)
        if b > a:
            total += b - a
            end = b
    return total / 1e6


def test_online_rate(root, tmp_path, procs):
    """Issue 13, acceptance 3: a camera offline for a known time gives the right share (within
    1 %) in the CLI, the API and the CSV, rolled up to its parent areas."""
    import csv
    import io
    from conftest import query
    from outage import one_camera_down
    cv("area", "add", "county", "--name", "County", root=root)
    cv("area", "add", "town", "--name", "Town", "--parent", "county", root=root)
    cv("area", "add", "village", "--name", "Village", "--parent", "town", root=root)
    cv("area", "add", "other", "--name", "Other town", "--parent", "county", root=root)
    one_camera_down(procs, root, tmp_path, ("flaky", "village"), ("steady", "other"), after=2)

    fq, sq = query(root, "flaky"), query(root, "steady")
    lo = max(fq["segments"][0]["start_us"], sq["segments"][0]["start_us"])
    hi = min(fq["segments"][-1]["end_us"], sq["segments"][-1]["end_us"])
    window = (hi - lo) / 1e6
    want = {"flaky": _covered(fq["segments"], lo, hi), "steady": _covered(sq["segments"], lo, hi)}
    gap = [g for g in fq["gaps"] if g["reason"] == "camera-offline"]
    assert len(gap) == 1, fq["gaps"]
    off = (min(gap[0]["end_us"], hi) - max(gap[0]["start_us"], lo)) / 1e6
    assert off > 4 and abs(want["flaky"] - (window - off)) < 0.01 * window, (want, off, window)

    frm, to = f"@{lo / 1e6:.6f}", f"@{hi / 1e6:.6f}"
    rep = json.loads(cv("report", "online", "--from", frm, "--to", to, "--json", root=root).stdout)
    cams = {c["id"]: c for c in rep["cameras"]}
    for cid in ("flaky", "steady"):
        assert abs(cams[cid]["enabled_seconds"] - window) < 0.01, cams[cid]
        assert abs(cams[cid]["online_rate"] - want[cid] / window) < 0.01, (cid, cams[cid], want)
    assert abs(cams["flaky"]["outage_seconds"]["camera-offline"] - off) < 0.01 * window
    assert cams["flaky"]["outages"][0]["reason"] == "camera-offline"
    areas = {a["id"]: a for a in rep["areas"]}
    both = (want["flaky"] + want["steady"]) / (2 * window)
    for aid, rate, n in (("village", want["flaky"] / window, 1), ("town", want["flaky"] / window, 1),
                         ("other", want["steady"] / window, 1), ("county", both, 2)):
        assert areas[aid]["cameras"] == n and abs(areas[aid]["online_rate"] - rate) < 0.01, \
            (aid, areas[aid], rate)
    assert abs(rep["total"]["online_rate"] - both) < 0.01
    assert sum(d["enabled_seconds"] for d in areas["county"]["days"]) == pytest.approx(
        2 * window, abs=0.01)
    town = json.loads(cv("report", "online", "--from", frm, "--to", to, "--area", "town",
                         "--json", root=root).stdout)
    assert [c["id"] for c in town["cameras"]] == ["flaky"]
    assert {a["id"] for a in town["areas"]} == {"town", "village"}
    text = cv("report", "online", "--from", frm, "--to", to, root=root).stdout
    row = next(line.split() for line in text.splitlines() if line.startswith("camera  flaky"))
    assert abs(float(row[5].rstrip("%")) - 100 * want["flaky"] / window) < 1, text
    assert any(line.startswith("area    village") for line in text.splitlines()), text

    # The API, in JSON and CSV; an officer of the other town sees only theirs.
    add_user(root, "boss", "admin")
    add_user(root, "off-o", "officer")
    cv("user", "edit", "off-o", "--area", "other", root=root)
    srv = start_server(procs, root, tmp_path)
    boss, off = logged_in(srv.port, "boss"), logged_in(srv.port, "off-o")
    path = f"/api/v1/reports/online?from={frm}&to={to}"
    api = boss.get(path).json()
    assert {c["id"]: round(c["online_rate"], 6) for c in api["cameras"]} == {
        c: round(cams[c]["online_rate"], 6) for c in cams}
    r = boss.get(path + "&format=csv")
    assert r.status == 200 and r.header("Content-Type").startswith("text/csv"), r
    rows = {(x["kind"], x["id"]): x for x in csv.DictReader(io.StringIO(r.body.decode()))}
    assert abs(float(rows[("camera", "flaky")]["online_rate"]) - want["flaky"] / window) < 0.01
    assert abs(float(rows[("area", "county")]["online_rate"]) - both) < 0.01
    assert abs(float(rows[("area", "town")]["online_rate"]) - want["flaky"] / window) < 0.01
    mine = off.get(path).json()
    assert [c["id"] for c in mine["cameras"]] == ["steady"] and mine["area"] == "other"
    assert {a["id"] for a in mine["areas"]} == {"other"}
    assert off.get(path + "&area=town").status == 404
    assert boss.get(f"/api/v1/reports/online?from={to}&to={frm}").status == 400
