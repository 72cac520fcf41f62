"""Issue 11, finding 7: the audit log cannot be cut short or rewritten unnoticed.

Every checkpoint signs the audit log's head (`audit <seq> <hash>`). Records deleted from the
end of the log leave a hash chain that still holds; `camvault audit --verify` must now fail
naming the truncation against the newest signed checkpoint. A case's audit records rewritten
in the LMDB file with stock lmdb-utils (the chain recomputed after them, so that the chain
alone still holds) must fail `camvault audit --verify`, and a package exported afterwards must
fail `camvault verify`, naming the custody lines that no longer lead to the signed head.
"""
import json
import shutil
import subprocess
import zipfile

from conftest import cv, query, start_camsim, start_recorder, wait_for


def _dump(index, db):
    return subprocess.run(["mdb_dump", "-s", db, str(index)], capture_output=True, text=True,
                          check=True).stdout


def _db_names(index):
    out = subprocess.run(["mdb_dump", "-a", str(index)], capture_output=True, text=True,
                         check=True).stdout
    return [l.split("=", 1)[1] for l in out.split("\n") if l.startswith("database=")]


def _records(dump):
    """(header lines, [(key bytes, value bytes)]) of an mdb_dump hex dump."""
    lines = dump.split("\n")
    end = lines.index("HEADER=END")
    body = [l for l in lines[end + 1:] if l.startswith(" ")]
    pairs = [(bytes.fromhex(body[i][1:]), bytes.fromhex(body[i + 1][1:]))
             for i in range(0, len(body), 2)]
    return lines[:end + 1], pairs


def _rechain(pairs):
    """Recompute every record's hash (u8 version, hash[32], line) from the one before."""
    import hashlib
    prev, out = b"\0" * 32, []
    for k, v in pairs:
        h = hashlib.sha256(prev + v[33:]).digest()
        out.append((k, v[:1] + h + v[33:]))
        prev = h
    return out


def rewrite_audit(root, change):
    """Replace the audit store with change(pairs) by rebuilding the index with mdb_dump and
    mdb_load (mdb_load cannot delete), as anyone with write access to the disk could."""
    index = root / "index"
    new = root / "index.new"
    new.mkdir()
    for db in _db_names(index):
        dump = _dump(index, db)
        if db == "audit":
            head, pairs = _records(dump)
            pairs = change(pairs)
            dump = "\n".join(head + [x for k, v in pairs for x in (" " + k.hex(), " " + v.hex())]
                             + ["DATA=END", ""])
        subprocess.run(["mdb_load", "-s", db, str(new)], input=dump, text=True, check=True,
                       capture_output=True)
    for f in ("data.mdb", "lock.mdb"):
        (index / f).unlink()
    (new / "data.mdb").rename(index / "data.mdb")
    shutil.rmtree(new)


def audit_records(root):
    return json.loads(cv("audit", "--json", root=root).stdout)


def signed_head(root):
    """(checkpoint seq, audit seq) of the newest checkpoint in the ledger."""
    ledger = (root / "ledger" / "checkpoints.log").read_text()
    block = ledger.strip().split("\n\n")[-1].split("\n")
    fields = {l.split(" ", 1)[0]: l.split(" ", 1)[1] for l in block}
    return int(fields["seq"]), int(fields["audit"].split()[0])


def test_signed_audit_head_catches_truncation_and_rewrite(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam")
    cv("camera", "add", "c1", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
    rec = start_recorder(procs, root, tmp_path, segment=2, extra=["--checkpoint-interval", "1"])
    wait_for(lambda: len(query(root, "c1")["segments"]) >= 2, 60, what="two segments")
    for i in range(3):
        cv("hold", "add", "--case", "K-86", "--camera", "c1", "--from", "@1", "--to", f"@{2 + i}",
           root=root)
    last = audit_records(root)[-1]["seq"]
    ledger = root / "ledger" / "checkpoints.log"
    wait_for(lambda: ledger.exists() and signed_head(root)[1] >= last, 30,
             what="a checkpoint signing the newest audit record")
    rec.close()
    cp, signed = signed_head(root)
    assert signed == audit_records(root)[-1]["seq"]

    r = cv("audit", "--verify", root=root)
    assert f"checkpoint {cp} signs record {signed}" in r.stdout, r.stdout
    frm, to = (query(root, "c1")["segments"][0]["start_us"],
               query(root, "c1")["segments"][-1]["end_us"])
    export = ["export", "--camera", "c1", "--from", f"@{frm / 1e6}", "--to", f"@{to / 1e6}",
              "--case", "K-86", "--reason", "r"]
    good = tmp_path / "good.zip"
    cv(*export, "--out", good, root=root)
    r = cv("verify", good, check=False)
    assert r.returncode == 0, r.stdout
    assert f"which checkpoint {cp} signs" in r.stdout, r.stdout
    with zipfile.ZipFile(good) as z:
        chain = [n for n in z.namelist() if n.endswith("custody/audit.chain")]
        text = z.read(chain[0]).decode()
    assert text.startswith(f"checkpoint {cp}\n") and text.rstrip().endswith(
        audit_records(root)[signed - 1]["hash"]), text

    # 1. The last two records deleted: the chain holds, the signed head does not.
    cut = tmp_path / "cut"
    shutil.copytree(root, cut)
    rewrite_audit(cut, lambda pairs: [p for p in pairs if int.from_bytes(p[0], "big") <=
                                      signed - 2])
    r = cv("audit", "--verify", root=cut, check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert (f"audit log ends at record {signed - 2} but checkpoint {cp} signed record {signed}"
            in r.stderr), r.stderr
    r = cv("audit", "--verify", "--json", root=cut, check=False)
    assert r.returncode == 1 and json.loads(r.stdout) == {
        "ok": False, "records": signed - 2, "checkpoint": cp, "signed_seq": signed}, r.stdout
    # A package exported after the cut: its custody chain stops short of the signed head (the
    # export's own record now sits at signed - 1).
    short = tmp_path / "short.zip"
    cv(*export, "--out", short, root=cut)
    r = cv("verify", short, check=False)
    assert r.returncode == 1, r.stdout
    fails = [l for l in r.stdout.split("\n") if l.startswith("FAIL")]
    assert len(fails) == 1 and (f"audit log ends at record {signed - 1} but checkpoint {cp} "
                                f"signed record {signed}") in fails[0], r.stdout

    # 2. A case record rewritten and the chain recomputed after it.
    def edit(pairs):
        out = []
        for k, v in pairs:
            if b'"case":"K-86"' in v and b'"target":"hold 1"' in v:
                v = v.replace(b'"target":"hold 1"', b'"target":"hold 9"')
            out.append((k, v))
        return _rechain(out)

    rewrite_audit(root, edit)
    r = cv("audit", "--verify", root=root, check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"hash differs from the one checkpoint {cp} signed" in r.stderr, r.stderr
    bad = tmp_path / "bad.zip"
    cv(*export, "--out", bad, root=root)
    r = cv("verify", bad, check=False)
    assert r.returncode == 1, r.stdout
    fails = [l for l in r.stdout.split("\n") if l.startswith("FAIL")]
    assert len(fails) == 1 and "custody/audit.log lines 1-" in fails[0] and \
        f"do not lead to the audit head that checkpoint {cp} signed" in fails[0], r.stdout
