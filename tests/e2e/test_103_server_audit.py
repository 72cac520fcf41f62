"""Issue 5, acceptance 5 (so far): views and changes over HTTP and on the command line land in
the hash-chained audit log with user, role, time and target; `camvault audit --verify` passes,
and fails naming the record after one is edited in the LMDB file with stock lmdb-utils
(mdb_dump / mdb_load), as would anyone with write access to the disk.
"""
import json
import subprocess

from conftest import cv
from httpapi import add_user, audit_records, logged_in, start_server


def edit_audit_record(root, old, new):
    """Rewrite one audit value in place with mdb_dump/mdb_load (same length, hash untouched).
    The hex dump format is used: `mdb_dump -p` prints a backslash byte unescaped, which
    mdb_load then misreads."""
    index = str(root / "index")
    dump = subprocess.run(["mdb_dump", "-s", "audit", index], capture_output=True, text=True,
                          check=True).stdout
    lines = dump.split("\n")
    o, n = old.encode().hex(), new.encode().hex()
    hits = [i for i, line in enumerate(lines) if line.startswith(" ") and
            any(j % 2 == 1 for j in _find_all(line, o))]
    assert len(hits) == 1, (old, hits)
    line = lines[hits[0]]
    j = [j for j in _find_all(line, o) if j % 2 == 1][0]  # a whole byte (after the space)
    lines[hits[0]] = line[:j] + n + line[j + len(o):]
    subprocess.run(["mdb_load", "-s", "audit", index], input="\n".join(lines), text=True,
                   check=True, capture_output=True)


def _find_all(s, sub):
    i = s.find(sub)
    while i >= 0:
        yield i
        i = s.find(sub, i + 1)


def test_views_and_changes_are_audited(root, tmp_path, procs):
    add_user(root, "olga", "officer")
    add_user(root, "adam", "admin")
    cv("camera", "add", "gate", "--url", "rtsp://127.0.0.1:9/x", root=root)
    srv = start_server(procs, root, tmp_path)
    o = logged_in(srv.port, "olga")
    a = logged_in(srv.port, "adam")
    assert o.get("/api/v1/cameras/gate/timeline?from=@1767225600&to=@1767229200").status == 200
    h = o.post("/api/v1/holds", {"case": "C-9", "cameras": ["gate"], "from": "@1767225600",
                                 "to": "@1767229200", "reason": "bike theft"}).json()["hold"]
    assert o.post(f"/api/v1/holds/{h['id']}/release", {"reason": "done"}).status == 200
    assert a.patch("/api/v1/cameras/gate", {"enabled": False}).status == 200
    assert a.patch("/api/v1/cameras/gate", {"retention_days": 45}).status == 200
    assert a.patch("/api/v1/cameras/gate", {"name": "Gate", "public": True}).status == 200
    cv("retention", "set", "gate", "40", root=root)
    recs = audit_records(root)
    got = [(r["user"], r["role"], r["action"], r["target"], r["case"]) for r in recs]
    expect = [
        ("olga", "officer", "view-timeline",
         "camera gate 2026-01-01T00:00:00.000Z..2026-01-01T01:00:00.000Z", ""),
        ("olga", "officer", "hold-add", f"hold {h['id']}", "C-9"),
        ("olga", "officer", "hold-release", f"hold {h['id']}", "C-9"),
        ("adam", "admin", "camera-disable", "gate", ""),
        ("adam", "admin", "retention-set", "gate", ""),
        ("adam", "admin", "camera-edit", "gate", ""),
    ]
    tail = got[-7:]
    assert tail[:6] == expect, tail
    assert tail[6][1:4] == ("cli", "retention-set", "gate")  # the OS user, from the CLI
    assert "45 days" in recs[-3]["detail"] and "name; public" in recs[-2]["detail"]
    # --case and --since filter; the API gives the same records (and records its own read).
    case = audit_records(root, "--case", "C-9")
    assert [r["action"] for r in case] == ["hold-add", "hold-release"]
    since = audit_records(root, "--since", f"@{recs[-2]['time_us'] / 1e6:.6f}")
    assert [r["seq"] for r in since] == [recs[-2]["seq"], recs[-1]["seq"]]
    api = a.get("/api/v1/audit?case=C-9").json()
    # Reading a case's records is itself a record of that case, written before the read.
    assert [r["action"] for r in api["records"]] == ["hold-add", "hold-release", "audit-read"]
    assert api["records"][-1]["user"] == "adam"
    assert api["next_after"] is None
    page = a.get("/api/v1/audit?limit=2").json()
    assert [r["seq"] for r in page["records"]] == [1, 2] and page["next_after"] == 2
    assert a.get("/api/v1/audit?after=2&limit=1").json()["records"][0]["seq"] == 3
    assert audit_records(root)[-1]["action"] == "audit-read"
    text = cv("audit", "--case", "C-9", root=root).stdout
    assert "olga (officer) hold-add hold" in text and "case C-9: cameras gate" in text


def test_verify_catches_an_edited_record(root, tmp_path, procs):
    add_user(root, "olga", "officer")
    cv("camera", "add", "gate", "--url", "rtsp://127.0.0.1:9/x", root=root)
    srv = start_server(procs, root, tmp_path)
    o = logged_in(srv.port, "olga")
    for _ in range(3):
        assert o.get("/api/v1/cameras/gate/timeline?from=@1&to=@2").status == 200
    ok = cv("audit", "--verify", root=root)
    n = len(audit_records(root))
    assert f"{n} records, hash chain intact" in ok.stdout
    views = [r for r in audit_records(root) if r["action"] == "view-timeline"]
    victim = views[1]
    # Someone with the disk hides who watched: the line changes, its stored hash does not.
    edit_audit_record(root, f'"seq":{victim["seq"]},', f'"seq":{victim["seq"]} ,')
    bad = cv("audit", "--verify", root=root, check=False)
    assert bad.returncode == 1, bad
    assert f"audit record {victim['seq']}" in bad.stderr and "hash does not match" in bad.stderr
    j = json.loads(cv("audit", "--verify", "--json", root=root, check=False).stdout)
    assert j == {"ok": False, "records": victim["seq"] - 1, "first_bad_seq": victim["seq"]}
    api = logged_in(srv.port, "olga")  # officers may not read the audit log
    assert api.get("/api/v1/audit/verify").status == 403
    add_user(root, "adam", "admin")
    v = logged_in(srv.port, "adam").get("/api/v1/audit/verify").json()
    assert v["ok"] is False and v["first_bad_seq"] == victim["seq"]


def test_verify_catches_an_edited_user_name(root, tmp_path, procs):
    add_user(root, "olga", "officer")
    srv = start_server(procs, root, tmp_path)
    logged_in(srv.port, "olga")
    edit_audit_record(root, '"user":"olga","role":"officer","action":"login"',
                      '"user":"eve!","role":"officer","action":"login"')
    bad = cv("audit", "--verify", root=root, check=False)
    assert bad.returncode == 1 and "audit record 2:" in bad.stderr, bad.stderr
