"""Issue 16, acceptance 2: `camvault backup` while four cameras record, `restore` into a new
root, `fsck`: nothing lost, and the footage recorded after the backup is indexed.

The backup is taken while the recorder writes; the recorder keeps recording after it, then
stops. The backup is restored into a new root whose volume is the old root's (--volumes, as
docs/operations.md says), `fsck` lists the segments recorded after the backup,
`fsck --repair` indexes them, and the restored index then equals the original one record for
record (path, times, SHA-256, chain link): every file on disk is indexed, every chain verifies,
and an export across the backup point verifies.
"""
import hashlib
import json
import re
import shutil

from conftest import cv, query, start_camsim, start_recorder, wait_for

CAMS = [f"c{i}" for i in (1, 2, 3, 4)]


def chain_ok(cam, segs):
    link = bytes(32)
    for s in segs:
        h = hashlib.sha256()
        h.update(link)
        h.update(cam.encode() + b"\0")
        h.update(s["start_us"].to_bytes(8, "big", signed=True))
        h.update(s["end_us"].to_bytes(8, "big", signed=True))
        h.update(bytes.fromhex(s["sha256"]))
        link = h.digest()
        if link.hex() != s["chain"]:
            return False
    return True


def record_view(segs):
    return [(s["path"], s["start_us"], s["end_us"], s["sha256"], s["chain"]) for s in segs]


def test_backup_while_recording_restore_fsck_nothing_lost(tmp_path, procs):
    old = tmp_path / "old"
    cv("init", root=old)
    (old / "camvault.conf").write_text("log_level = info\n")
    sim = start_camsim(procs, tmp_path, cameras=4, name="cam")
    for i, cam in enumerate(CAMS, 1):
        cv("camera", "add", cam, "--url", f"rtsp://127.0.0.1:{sim.port}/cam{i}", root=old)
    cv("user", "add", "chief", "--role", "admin", root=old)
    rec = start_recorder(procs, old, tmp_path, segment=2, extra=["--checkpoint-interval", "2"])
    wait_for(lambda: all(len(query(old, c)["segments"]) >= 3 for c in CAMS), 90,
             what="three segments per camera")

    before = {c: len(query(old, c)["segments"]) for c in CAMS}
    bak = tmp_path / "bak"
    out = cv("backup", "--out", bak, root=old).stdout
    assert "backup of" in out
    manifest = (bak / "MANIFEST").read_text()
    listed = re.findall(r"^file [0-9a-f]{64} \d+ [0-7]{4} (\S+)$", manifest, re.M)
    assert "index/data.mdb" in listed and "keys/signing.key" in listed
    assert "camvault.conf" in listed and "ledger/checkpoints.log" in listed
    assert not [p for p in listed if p.startswith("volumes/")]  # never the footage
    assert (bak / "keys" / "signing.key").stat().st_mode & 0o077 == 0

    # A live root is never overwritten: one clear line.
    r = cv("restore", bak, root=old, check=False)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "is live" in r.stderr and "new root" in r.stderr, r.stderr

    at_backup = {c: len(query(old, c)["segments"]) for c in CAMS}
    wait_for(lambda: all(len(query(old, c)["segments"]) >= at_backup[c] + 3 for c in CAMS), 90,
             what="three more segments per camera after the backup")
    rec.close()
    want = {c: query(old, c)["segments"] for c in CAMS}

    new = tmp_path / "new"
    out = cv("restore", bak, "--volumes", old / "volumes", root=new).stdout
    assert "fsck --repair" in out
    assert (new / "volumes" / "main").resolve() == (old / "volumes" / "main").resolve()
    assert (new / "camvault.conf").read_text() == "log_level = info\n"
    restored = {c: query(new, c)["segments"] for c in CAMS}
    later = set()
    for c in CAMS:
        # The restored index is a prefix of the original: what it had at the backup.
        assert record_view(restored[c]) == record_view(want[c][:len(restored[c])])
        assert before[c] <= len(restored[c]) <= at_backup[c]
        later |= {s["path"] for s in want[c][len(restored[c]):]}
    assert len(later) >= 4 * 2

    # fsck lists every segment recorded after the backup.
    r = cv("fsck", root=new, check=False)
    assert r.returncode == 1, r.stdout
    found = set(re.findall(r"^(volumes/\S+): file without record", r.stdout, re.M))
    assert found == later, (found ^ later, r.stdout)

    # --repair indexes them, in chain order: the restored index equals the original.
    r = cv("fsck", "--repair", root=new, check=False)
    assert r.returncode == 0, r.stdout
    assert sum(1 for l in r.stdout.splitlines() if l.endswith(": indexed")) == len(later)
    for c in CAMS:
        got = query(new, c)["segments"]
        assert record_view(got) == record_view(want[c]), c
        assert chain_ok(c, got), c
    on_disk = {str(p.relative_to(old))
               for p in (old / "volumes" / "main").rglob("*.mp4")}
    assert on_disk == {s["path"] for c in CAMS for s in want[c]}
    r = cv("fsck", root=new, check=False)
    assert r.returncode == 0 and ", 0 findings" in r.stdout, r.stdout

    # The server's records came back too; the restore is in the audit log.
    assert "chief" in cv("user", "list", root=new).stdout
    audit = json.loads(cv("audit", "--json", root=new).stdout)
    assert audit[-1]["action"] == "restore"
    assert "hash chain intact" in cv("audit", "--verify", root=new).stdout

    # An export across the backup point verifies.
    segs = want["c1"]
    k = len(restored["c1"])
    frm, to = segs[k - 2]["start_us"], segs[k + 1]["end_us"]
    pkg = tmp_path / "across.zip"
    cv("export", "--camera", "c1", "--from", f"@{frm / 1e6:.6f}", "--to", f"@{to / 1e6:.6f}",
       "--case", "B-1", "--out", pkg, root=new)
    r = cv("verify", pkg, check=False)
    assert r.returncode == 0, r.stdout


def test_restore_refuses_bad_backups_and_used_roots(tmp_path):
    old = tmp_path / "old"
    cv("init", root=old)
    cv("camera", "add", "c1", "--url", "rtsp://127.0.0.1:9/x", root=old)
    bak = tmp_path / "bak"
    cv("backup", "--out", bak, root=old)

    r = cv("backup", "--out", bak, root=old, check=False)  # not over an old backup
    assert r.returncode == 1 and "is not empty" in r.stderr, r.stderr

    r = cv("restore", bak, root=old, check=False)  # an existing root, not running
    assert r.returncode == 1 and "already has an index" in r.stderr, r.stderr

    bad = tmp_path / "bad"
    shutil.copytree(bak, bad)
    key = bad / "keys" / "signing.pem"
    key.write_text(key.read_text().replace("A", "B", 1))
    r = cv("restore", bad, root=tmp_path / "n1", check=False)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "keys/signing.pem" in r.stderr and "MANIFEST" in r.stderr, r.stderr
    assert not (tmp_path / "n1").exists()

    bad2 = tmp_path / "bad2"
    shutil.copytree(bak, bad2)
    (bad2 / "ledger" / "planted").write_text("x")
    r = cv("restore", bad2, root=tmp_path / "n2", check=False)
    assert r.returncode == 1 and "'ledger/planted' is not in its MANIFEST" in r.stderr, r.stderr

    r = cv("restore", tmp_path / "nothing", root=tmp_path / "n3", check=False)
    assert r.returncode == 1 and "is not a camvault backup" in r.stderr, r.stderr

    cv("restore", bak, root=tmp_path / "n4")
    assert "c1" in cv("camera", "list", root=tmp_path / "n4").stdout
