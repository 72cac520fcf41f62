"""Issue 4 (first part): signed checkpoints of the hash chains, checkable with stock openssl.

`camvault init` creates the site keys; the recorder signs every camera's chain head every
checkpoint interval (2 s here) and appends the checkpoint to ledger/checkpoints.log. Each one
must verify with `openssl dgst -sha256 -verify` against the signing certificate, which must
verify against the root; checkpoints must link to their predecessor by hash; the last one must
name each camera's newest segment and chain hash; an edited checkpoint must fail.
"""
import base64
import hashlib
import json
import subprocess

from conftest import cv, query, start_camsim, start_recorder, wait_for


def openssl_verify(tmp_path, root, text, sig):
    (tmp_path / "t.txt").write_bytes(text)
    (tmp_path / "s.der").write_bytes(sig)
    pub = subprocess.run(["openssl", "x509", "-in", str(root / "keys" / "signing.pem"),
                          "-pubkey", "-noout"], capture_output=True, check=True).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"),
                        "-signature", str(tmp_path / "s.der"), str(tmp_path / "t.txt")],
                       capture_output=True, text=True)
    return r.stdout.strip() == "Verified OK"


def test_checkpoints_are_signed_linked_and_current(root, tmp_path, procs):
    keys = json.loads(cv("keys", "show", "--json", root=root).stdout)
    assert len(keys["root"]["fingerprint_sha256"]) == 95
    assert oct((root / "keys" / "signing.key").stat().st_mode)[-3:] == "600"
    r = subprocess.run(["openssl", "verify", "-CAfile", str(root / "keys" / "root.pem"),
                        str(root / "keys" / "signing.pem")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

    sim = start_camsim(procs, tmp_path, cameras=2, name="cam")
    for i in (1, 2):
        cv("camera", "add", f"c{i}", "--url", f"rtsp://127.0.0.1:{sim.port}/cam{i}", root=root)
    rec = start_recorder(procs, root, tmp_path, segment=2, extra=["--checkpoint-interval", "2"])
    ledger = root / "ledger" / "checkpoints.log"
    wait_for(lambda: ledger.exists() and ledger.read_text().count("camvault checkpoint") >= 4, 30,
             what="four checkpoints")
    rec.close()  # a last checkpoint covers the segments closed at stop

    blocks = ledger.read_text().strip().split("\n\n")
    prev = "0" * 64
    for n, block in enumerate(blocks, 1):
        lines = block.split("\n")
        text = ("\n".join(lines[:-1]) + "\n").encode()
        assert lines[-1].startswith("signature ")
        sig = base64.b64decode(lines[-1].split()[1])
        assert openssl_verify(tmp_path, root, text, sig), block
        fields = dict(l.split(" ", 1) for l in lines[:5])
        assert fields["seq"] == str(n) and fields["prev"] == prev, block
        prev = hashlib.sha256(text).hexdigest()

    last = blocks[-1].split("\n")
    heads = {l.split()[1]: l.split()[2:] for l in last if l.startswith("head ")}
    for i in (1, 2):
        segs = query(root, f"c{i}")["segments"]
        assert heads[f"c{i}"] == [str(segs[-1]["start_us"]), segs[-1]["chain"]]

    # An edited checkpoint no longer verifies.
    lines = last[:-1]
    forged = "\n".join(l.replace(heads["c1"][1], "0" * 64) for l in lines) + "\n"
    sig = base64.b64decode(last[-1].split()[1])
    assert not openssl_verify(tmp_path, root, forged.encode(), sig)
