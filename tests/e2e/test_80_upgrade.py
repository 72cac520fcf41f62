"""Issue 3, acceptance 6: a data root made by the previous schema keeps working.

tests/e2e/data/schema1-root.tar.gz was recorded by camvault's first release (index schema 1:
two cameras, a few 2-s segments). Today's camvault opens it (upgrading the index in place),
lists and queries the old footage, records on, and continues each camera's hash chain from
where schema 1 left it.
"""
import hashlib
import json
import tarfile
from pathlib import Path

from conftest import cv, decode_errors, query, start_camsim, start_recorder, wait_for

FIXTURE = Path(__file__).resolve().parent / "data" / "schema1-root.tar.gz"


def chain_next(prev, camera, start, end, sha):
    h = hashlib.sha256()
    h.update(prev)
    h.update(camera.encode() + b"\0")
    h.update(start.to_bytes(8, "big", signed=True))
    h.update(end.to_bytes(8, "big", signed=True))
    h.update(bytes.fromhex(sha))
    return h.digest()


def test_schema_1_root_opens_and_keeps_recording(tmp_path, procs):
    root = tmp_path / "old"
    root.mkdir()
    with tarfile.open(FIXTURE) as t:
        t.extractall(root)
    old = {c: query(root, c)["segments"] for c in ("old-1", "old-2")}
    assert all(len(v) >= 3 for v in old.values()), old
    for segs in old.values():
        for s in segs:
            assert decode_errors(root / s["path"]) == ""
    sim = start_camsim(procs, tmp_path, cameras=2, name="cam")
    for i in (1, 2):
        cv("camera", "edit", f"old-{i}", "--url", f"rtsp://127.0.0.1:{sim.port}/cam{i}",
           root=root)
    rec = start_recorder(procs, root, tmp_path, segment=2)
    wait_for(lambda: len(query(root, "old-1")["segments"]) >= len(old["old-1"]) + 2, 30,
             what="new segments in the upgraded root")
    rec.close()
    for cam in ("old-1", "old-2"):
        segs = query(root, cam)["segments"]
        assert [s["path"] for s in segs[:len(old[cam])]] == [s["path"] for s in old[cam]]
        assert len(segs) > len(old[cam])
        # One chain from the first schema-1 segment through the new ones.
        link = bytes(32)
        for s in segs:
            link = chain_next(link, cam, s["start_us"], s["end_us"], s["sha256"])
            assert link.hex() == s["chain"], s["path"]
        gaps = query(root, cam)["gaps"]
        assert any(g["reason"] == "recorder-stopped" for g in gaps), gaps
    vols = {v["name"]: v for v in __import__("json").loads(
        cv("volume", "list", "--json", root=root).stdout)}
    total = sum(len(query(root, c)["segments"]) for c in ("old-1", "old-2"))
    assert vols["main"]["segments"] == total
    # Schema 3 (issue 5): the upgraded root has the server's stores; the CLI's changes above
    # are in the audit log, accounts can be added, and the chain verifies.
    recs = __import__("json").loads(cv("audit", "--json", root=root).stdout)
    assert [(r["action"], r["target"]) for r in recs] == [("camera-edit", "old-1"),
                                                          ("camera-edit", "old-2")]
    cv("user", "add", "old-admin", "--role", "admin", root=root)
    assert "3 records, hash chain intact" in cv("audit", "--verify", root=root).stdout


SCHEMA2_DBS = ["meta", "cameras", "segments", "fragments", "gaps", "status", "pending",
               "tombstones", "chainhead", "deleting", "holds", "volumes", "volstats",
               "checkpoints"]


def test_schema_2_root_upgrades_to_3(tmp_path):
    """A schema-2 index (the databases of issue 3 and 4 only, meta says 2) is upgraded in place
    to 3 by the first read-write open, keeping its cameras and holds."""
    import subprocess
    root = tmp_path / "r2"
    cv("init", root=root)
    cv("camera", "add", "c1", "--url", "rtsp://127.0.0.1:9/x", root=root)
    cv("hold", "add", "--case", "K", "--camera", "c1", "--from", "@1", "--to", "@2", root=root)
    old = tmp_path / "index2"
    old.mkdir()
    for db in SCHEMA2_DBS:
        dump = subprocess.run(["mdb_dump", "-s", db, str(root / "index")], capture_output=True,
                              text=True, check=True).stdout
        if db == "meta":  # "schema" -> be64 2
            key = " " + b"schema".hex()
            lines = dump.split("\n")
            i = lines.index(key)
            assert lines[i + 1] == " 0000000000000003"
            lines[i + 1] = " 0000000000000002"
            dump = "\n".join(lines)
        subprocess.run(["mdb_load", "-s", db, str(old)], input=dump, text=True, check=True)
    for f in ("data.mdb", "lock.mdb"):
        (root / "index" / f).unlink()
    (old / "data.mdb").rename(root / "index" / "data.mdb")
    stat = subprocess.run(["mdb_stat", "-a", str(root / "index")], capture_output=True,
                          text=True).stdout
    assert "Status of users" not in stat and "Status of holds" in stat
    cv("user", "add", "u1", "--role", "officer", root=root)  # opens read-write: upgrades
    stat = subprocess.run(["mdb_stat", "-a", str(root / "index")], capture_output=True,
                          text=True).stdout
    for db in ("users", "sessions", "requests", "cases", "jobs", "audit"):
        assert f"Status of {db}" in stat, stat
    meta = subprocess.run(["mdb_dump", "-s", "meta", str(root / "index")], capture_output=True,
                          text=True, check=True).stdout.split("\n")
    assert meta[meta.index(" " + b"schema".hex()) + 1] == " 0000000000000003"
    assert "c1" in cv("camera", "list", root=root).stdout
    assert "hold 1" in cv("hold", "list", root=root).stdout
    assert "1 records, hash chain intact" in cv("audit", "--verify", root=root).stdout


RELEASE = Path(__file__).resolve().parent / "data" / "release-696cad9-root.tar.gz"


def test_previous_release_root_every_command(tmp_path, procs):
    """Issue 16, acceptance 3: a data root made by the previous release (696cad9, built and
    recorded by tools/make-upgrade-fixture.sh: two cameras, checkpoints, keys, users, a token,
    a hold, a case, an export) opens with today's camvault, and every command family works on
    it."""
    from httpapi import logged_in, start_server
    root = tmp_path / "prev"
    root.mkdir()
    with tarfile.open(RELEASE) as t:
        t.extractall(root)
    cams = json.loads(cv("camera", "list", "--json", root=root).stdout)
    assert [c["id"] for c in cams] == ["prev-1", "prev-2"]
    assert "prev-1" in cv("camera", "show", "prev-1", root=root).stdout
    old = {}
    for cam in ("prev-1", "prev-2"):
        segs = old[cam] = query(root, cam)["segments"]
        assert len(segs) >= 4, segs
        link = bytes(32)
        for s in segs:
            link = chain_next(link, cam, s["start_us"], s["end_us"], s["sha256"])
            assert link.hex() == s["chain"], s["path"]
        assert decode_errors(root / segs[0]["path"]) == ""
    r = cv("fsck", root=root, check=False)
    assert r.returncode == 0 and ", 0 findings" in r.stdout, r.stdout
    holds = json.loads(cv("hold", "list", "--json", root=root).stdout)
    assert [h["case"] for h in holds] == ["UPG-1"]
    users = {u["name"]: u["role"] for u in json.loads(cv("user", "list", "--json",
                                                          root=root).stdout)}
    assert users == {"admin": "admin", "officer1": "officer"}
    assert "hash chain intact" in cv("audit", "--verify", root=root).stdout
    assert "signing" in cv("keys", "show", root=root).stdout.lower()
    assert "main" in cv("volume", "list", root=root).stdout
    assert "prev-1" in cv("retention", "show", root=root).stdout

    # The old release's package still verifies; a new export of the old footage does too.
    r = cv("verify", root / "exports" / "upg-1.zip", check=False)
    assert r.returncode == 0, r.stdout
    segs = old["prev-1"]
    frm, to = f"@{segs[0]['start_us'] / 1e6:.6f}", f"@{segs[-1]['end_us'] / 1e6:.6f}"
    pkg = tmp_path / "new.zip"
    cv("export", "--camera", "prev-1,prev-2", "--from", frm, "--to", to, "--case", "UPG-1",
       "--out", pkg, root=root)
    r = cv("verify", pkg, check=False)
    assert r.returncode == 0, r.stdout
    # Its checkpoints predate the clock line: said, not failed.
    assert "ok clock: no checkpoint of the package records the clock's state" in r.stdout
    cv("clip", "prev-2", "--from", frm, "--to", to, "--out", tmp_path / "c.mp4", root=root)
    assert decode_errors(tmp_path / "c.mp4") == ""

    # The server: the old accounts log in with their passwords; the case made over the API.
    srv = start_server(procs, root, tmp_path)
    o = logged_in(srv.port, "officer1", "fixture-password-2")
    cases = o.get("/api/v1/cases").json()
    assert [c["title"] for c in (cases["cases"] if isinstance(cases, dict) else cases)] == \
        ["UPG-1"], cases
    a = logged_in(srv.port, "admin", "fixture-password-1")
    r = a.get("/api/v1/cameras")
    assert r.status == 200 and {c["id"] for c in r.json()["cameras"]} == {"prev-1", "prev-2"}, r
    srv.close()

    # Changes after the upgrade: a new hold, its release, a new user; the chain stays intact.
    cv("hold", "add", "--case", "UPG-2", "--camera", "prev-2", "--from", frm, "--to", to,
       root=root)
    cv("hold", "release", "2", root=root)
    cv("user", "add", "new-admin", "--role", "admin", root=root)
    assert "hash chain intact" in cv("audit", "--verify", root=root).stdout
    r = cv("fsck", "--repair", root=root, check=False)
    assert r.returncode == 0, r.stdout
