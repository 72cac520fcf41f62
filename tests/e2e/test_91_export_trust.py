"""Issue 4, acceptance 3-5: the cases a forger would try, three cameras in one package, and an
export over footage that retention deleted.

The forgeries here are made the way someone holding the package (and even the site's signing
key) would make them: change a file, recompute SHA256SUMS, sign it again with `openssl cms`.
The signature then checks, so what must catch them is the hash chain and the checkpoints that
were signed when the footage was recorded.
"""
import base64
import hashlib
import json
import subprocess
import zipfile

from conftest import (BROWSER, cv, cv_export, FUZZ_VERIFY, package_manifest, query, start_camsim,
                      start_recorder, wait_for)
from test_90_export import export, first_native, flip, middle_range, package, rezip

__all__ = ["package"]  # a module fixture of test_90 (`recorded` is conftest's)


def sums_of(files):
    return "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(files.items()))


def resign(root, sums, tmp_path, key=None, cert=None):
    """A CMS signature over `sums` made with openssl (by default with the site's own key)."""
    (tmp_path / "sums").write_bytes(sums)
    keys = root / "keys"
    subprocess.run(["openssl", "cms", "-sign", "-binary", "-outform", "DER", "-in", tmp_path / "sums",
                    "-signer", cert or keys / "signing.pem", "-inkey", key or keys / "signing.key",
                    "-certfile", keys / "root.pem", "-out", tmp_path / "sums.p7s"], check=True,
                   capture_output=True)
    return (tmp_path / "sums.p7s").read_bytes()


def forge(src, dst, root, tmp_path, edit):
    """Rewrite package src into dst with edit(files) applied to {name: bytes}, then recompute
    SHA256SUMS and re-sign it with the site key, as a forger with that key would."""
    with zipfile.ZipFile(src) as z:
        top = z.namelist()[0].split("/")[0]
        files = {i.filename[len(top) + 1:]: z.read(i) for i in z.infolist()}
    edit(files)
    files.pop("SHA256SUMS.p7s")
    files.pop("SHA256SUMS")
    sums = sums_of(files).encode()
    files["SHA256SUMS"] = sums
    files["SHA256SUMS.p7s"] = resign(root, sums, tmp_path)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z:
        for n, d in files.items():
            z.writestr(f"{top}/{n}", d)


def verify_fails(path):
    r = cv("verify", path, check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    return r.stdout, [l for l in r.stdout.splitlines() if l.startswith("FAIL ")]


def test_resigned_package_with_a_swapped_native_fails_the_chain(recorded, package, tmp_path):
    seg = first_native(package)

    def edit(files):
        files[seg] = flip(files[seg], 5000)

    bad = tmp_path / "resigned.zip"
    forge(package, bad, recorded, tmp_path, edit)
    out, fails = verify_fails(bad)
    assert "ok sums:" in out and "ok signature:" in out, out  # the forgery is well signed...
    assert any("chain" in l and seg in l for l in fails), out  # ...and the chain still catches it


def test_resigned_package_with_rewritten_chain_fails_the_checkpoint(recorded, package, tmp_path):
    """Swap a native and rewrite its chain line and every later link so the chain recomputes:
    the signed checkpoint still names the original head."""
    seg = first_native(package)
    cam = seg.split("/")[1]

    def edit(files):
        files[seg] = flip(files[seg], 5000)
        name = f"integrity/{cam}.chain"
        lines = files[name].decode().splitlines()
        prev = bytes.fromhex(lines[0].split()[1])
        out = [lines[0]]
        for l in lines[1:]:
            start, end, sha, _, path = l.split()
            if path == seg:
                sha = hashlib.sha256(files[seg]).hexdigest()
            h = hashlib.sha256(prev + cam.encode() + b"\0" + int(start).to_bytes(8, "big", signed=True)
                               + int(end).to_bytes(8, "big", signed=True) + bytes.fromhex(sha))
            prev = h.digest()
            out.append(" ".join([start, end, sha, h.hexdigest(), path]))
        files[name] = ("\n".join(out) + "\n").encode()

    bad = tmp_path / "rechained.zip"
    forge(package, bad, recorded, tmp_path, edit)
    out, fails = verify_fails(bad)
    assert "ok signature:" in out, out
    assert not any(l.startswith("FAIL chain") for l in fails), out  # the links do recompute
    assert any(l.startswith(f"FAIL checkpoint: integrity/{cam}.chain") and
               "differs from checkpoint" in l for l in fails), out


def test_checkpoint_signed_by_another_key_fails(recorded, package, tmp_path):
    other_key = tmp_path / "other.key"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                    other_key], check=True)

    def edit(files):
        log = files["integrity/checkpoints.log"].decode()
        blocks = log.split("\n\n")
        text = blocks[0][:blocks[0].index("signature ")]
        (tmp_path / "cp.txt").write_text(text)
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", other_key, tmp_path / "cp.txt"],
                             check=True, capture_output=True).stdout
        blocks[0] = text + "signature " + base64.b64encode(sig).decode()
        files["integrity/checkpoints.log"] = "\n\n".join(blocks).encode()

    bad = tmp_path / "otherkey.zip"
    forge(package, bad, recorded, tmp_path, edit)
    out, fails = verify_fails(bad)
    assert "ok signature:" in out, out
    assert any("checkpoints.log block 1" in l and "does not verify" in l for l in fails), out


def test_three_cameras_share_one_manifest_and_signature(recorded, tmp_path):
    root = recorded
    out = tmp_path / "three.zip"
    export(root, out, cameras="c1,c2,c3")
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        top = names[0].split("/")[0]
        m = json.loads(z.read(f"{top}/manifest.json"))
    assert [n for n in names if n.endswith("manifest.json")] == [f"{top}/manifest.json"]
    assert [n for n in names if n.endswith(".p7s")] == [f"{top}/SHA256SUMS.p7s"]
    frm, to = middle_range(root)
    assert [c["id"] for c in m["cameras"]] == ["c1", "c2", "c3"]
    for c in m["cameras"]:
        assert c["requested"]["from_us"] == frm and c["requested"]["to_us"] == to
        want = [s for s in query(root, c["id"])["segments"]
                if s["start_us"] < to and s["end_us"] > frm]
        assert c["delivered"]["first_us"] == want[0]["start_us"] <= frm
        assert c["delivered"]["last_us"] == want[-1]["end_us"] >= to
        assert [s["start_us"] for s in c["segments"]] == [s["start_us"] for s in want]
        assert all(n.startswith(f"native/{c['id']}/") for n in (s["path"] for s in c["segments"]))
    r = cv("verify", out, check=False)
    assert r.returncode == 0, r.stdout
    for cam in ("c1", "c2", "c3"):
        assert f"ok chain: integrity/{cam}.chain" in r.stdout, r.stdout


def test_export_over_footage_deleted_by_retention(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam")
    cv("camera", "add", "alley", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
    cv("retention", "set", "alley", str(8 / 86400), root=root)
    rec = start_recorder(procs, root, tmp_path, segment=2,
                         extra=["--retention-interval", "1", "--checkpoint-interval", "2"])
    wait_for(lambda: any(g["reason"] == "retention" for g in query(root, "alley")["gaps"]) and
             len(query(root, "alley")["segments"]) >= 3, 60, what="retention deleting footage")
    assert rec.close() == 0
    q = query(root, "alley")
    deleted = [g for g in q["gaps"] if g["reason"] == "retention"]
    out = tmp_path / "partly-deleted.zip"
    cv_export(root, "alley", deleted[0]["start_us"], q["segments"][-1]["end_us"], "RET-1", out)
    cam = package_manifest(out)["cameras"][0]
    gaps = [g for g in cam["gaps"] if g["reason"] == "retention"]
    assert gaps and gaps[0]["start_us"] == deleted[0]["start_us"], cam["gaps"]
    assert all(g["detail"] for g in gaps), gaps  # why: the rule that deleted it
    assert cam["tombstones"], cam
    for t in cam["tombstones"]:
        assert t["reason"] == "retention" and t["why"] and t["deleted_us"] > t["end_us"]
        assert len(t["sha256"]) == 64
    assert cam["segments"], cam
    r = cv("verify", out, check=False)
    assert r.returncode == 0, r.stdout


def test_fuzzed_packages_never_crash_verify(recorded, tmp_path):
    """The package reader's fuzz target (tests/fuzz/fuzz_verify.c), briefly: mutated copies of a
    small real package must each be valid, not valid or unreadable with one line, never a crash."""
    seg = query(recorded, "c1")["segments"][2]
    seed = tmp_path / "seed.zip"
    cv("export", "--camera", "c1", "--from", f"@{seg['start_us'] / 1e6}",
       "--to", f"@{(seg['start_us'] + 1) / 1e6}", "--case", "FUZZ", "--out", seed, root=recorded)
    r = subprocess.run([FUZZ_VERIFY, seed, "3000", "20261122"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr + str(list(tmp_path.glob("crash-*")))
    done = r.stdout.split()
    assert done[1] == "3001" and int(done[5]) > 0 and int(done[8]) > 0, r.stdout


def test_resigned_package_with_an_edited_working_copy_fails_the_rebuild(recorded, package,
                                                                       tmp_path):
    """A working copy changed (say, frames cut out) and everything re-hashed and re-signed:
    the manifest is edited to match, but the copy no longer rebuilds from native/."""
    with zipfile.ZipFile(package) as z:
        top = z.namelist()[0].split("/")[0]
        m = json.loads(z.read(f"{top}/manifest.json"))
    work = m["working"][0]["path"]

    def edit(files):
        files[work] = flip(files[work], len(files[work]) // 2)
        for w in m["working"]:
            if w["path"] == work:
                w["sha256"] = hashlib.sha256(files[work]).hexdigest()
        files["manifest.json"] = json.dumps(m).encode()

    bad = tmp_path / "rework.zip"
    forge(package, bad, recorded, tmp_path, edit)
    out, fails = verify_fails(bad)
    assert "ok signature:" in out and "ok manifest:" in out, out
    assert any(l.startswith(f"FAIL working: {work}") and "rebuild" in l for l in fails), out


def test_index_html_plays_the_working_copies_offline(recorded, package, tmp_path):
    """index.html opened from the unpacked package (file://, no server) in headless Chromium:
    every working copy plays, and the clock shows the wall time of the frame on screen."""
    with zipfile.ZipFile(package) as z:
        z.extractall(tmp_path)
        top = z.namelist()[0].split("/")[0]
        m = json.loads(z.read(f"{top}/manifest.json"))
    page = tmp_path / top / "index.html"
    r = subprocess.run(["node", BROWSER / "play.mjs", page.as_uri(), tmp_path / "index.png"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    videos = [l for l in lines if "src" in l]
    assert not [l for l in lines if "problem" in l], lines
    assert len(videos) == len(m["working"]) == 2, lines
    for v, w in zip(videos, m["working"]):
        assert v["played"] and v["error"] is None, v
        assert v["src"].endswith(w["path"])
        assert abs(v["duration"] - (w["end_us"] - w["origin_us"]) / 1e6) < 0.5, (v, w)
        # the clock: origin + currentTime, within a frame or two of the position it stopped at
        assert abs(v["clock_us"] - (w["origin_us"] + v["end"] * 1e6)) < 100_000, (v, w)
        assert w["first_local"][:10] in v["clock"]


def test_custody_holds_the_case_history_and_this_export(recorded, tmp_path):
    root = recorded
    frm, to = middle_range(root)
    cv("hold", "add", "--case", "CUST-1", "--camera", "c1", "--from", f"@{frm / 1e6}",
       "--to", f"@{to / 1e6}", "--reason", "bike theft", root=root)
    out = tmp_path / "cust.zip"
    export(root, out, "--case", "CUST-1", cameras="c1")
    with zipfile.ZipFile(out) as z:
        top = z.namelist()[0].split("/")[0]
        lines = z.read(f"{top}/custody/audit.log").decode().splitlines()
    export_id = top[len("CUST-1-"):]
    recs = [json.loads(l.split(" ", 3)[3]) for l in lines]
    assert [r["action"] for r in recs] == ["hold-add", "export-start"], recs
    assert all(r["case"] == "CUST-1" for r in recs) and export_id in recs[1]["target"], recs
    for l in lines:  # each line checks by hand: hash = SHA-256(previous hash || line)
        seq, prev, h, line = l.split(" ", 3)
        assert hashlib.sha256(bytes.fromhex(prev) + line.encode()).hexdigest() == h
    r = cv("verify", out)
    assert "ok custody: custody/audit.log: 2 audit records" in r.stdout, r.stdout
    audit = cv("audit", "--case", "CUST-1", "--json", root=root).stdout
    assert '"export-done"' in audit and export_id in audit, audit

    def edit(files):
        files["custody/audit.log"] = files["custody/audit.log"].replace(b"cameras c1", b"cameras c2", 1)

    bad = tmp_path / "cust-edited.zip"
    forge(out, bad, root, tmp_path, edit)
    _, fails = verify_fails(bad)
    assert any(l.startswith("FAIL custody: custody/audit.log line 1") for l in fails), fails
