"""Issue 4 (second part): evidence export packages and their verification.

Three simulated cameras are recorded for ~20 s (3-s segments, a checkpoint every 2 s). A range in
the middle is exported for both; the package must unpack with a stock ZIP reader, pass
`sha256sum -c SHA256SUMS` and `openssl cms -verify` exactly as README.txt tells a third party,
hold the native segments byte for byte, and describe both cameras in manifest.json.
`camvault verify` must accept it, and name the file for every kind of tampering.
The recording is conftest.py's `recorded`, shared with test_91.
"""
import hashlib
import json
import subprocess
import time
import zipfile

import pytest

from conftest import (cv, cv_export, decode_errors, package_manifest, probe_streams, query,
                      start_camsim, start_recorder, wait_for)

OPENSSL_CMS = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "SHA256SUMS.p7s",
               "-content", "SHA256SUMS", "-CAfile", "certs/root.pem", "-purpose", "any"]


def middle_range(root):
    segs = query(root, "c1")["segments"]
    return segs[1]["start_us"] + 500_000, segs[-2]["start_us"] + 500_000


def export(root, out, *extra, cameras="c1,c2"):
    frm, to = middle_range(root)
    case = [] if "--case" in extra else ["--case", "CASE-7"]
    return cv("export", "--camera", cameras, "--from", f"@{frm / 1e6}", "--to", f"@{to / 1e6}",
              *case, "--reason", "incident at gate", "--requester", "Officer Li",
              "--out", out, *extra, root=root)


def unpack(zpath, dest):
    with zipfile.ZipFile(zpath) as z:
        names = z.namelist()
        z.extractall(dest)
    top = {n.split("/")[0] for n in names}
    assert len(top) == 1, top
    return dest / top.pop()


def test_export_package_verifies_with_stock_tools(recorded, tmp_path):
    root = recorded
    out = tmp_path / "case7.zip"
    r = export(root, out)
    assert r.stdout.splitlines()[0] == str(out)
    assert out.exists() and not (tmp_path / "case7.zip.tmp").exists()
    pkg = unpack(out, tmp_path / "x")
    assert pkg.name.startswith("CASE-7-")

    r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=pkg, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(OPENSSL_CMS, cwd=pkg, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    listed = sorted(l.split("  ", 1)[1] for l in (pkg / "SHA256SUMS").read_text().splitlines())
    files = sorted(str(p.relative_to(pkg)) for p in pkg.rglob("*") if p.is_file())
    assert listed == [f for f in files if not f.startswith("SHA256SUMS")]

    m = json.loads((pkg / "manifest.json").read_text())
    assert m["case"] == "CASE-7" and m["requester"] == "Officer Li"
    assert m["software"] == "camvault 0.3"
    frm, to = middle_range(root)
    assert [c["id"] for c in m["cameras"]] == ["c1", "c2"]
    for c in m["cameras"]:
        want = [s for s in query(root, c["id"])["segments"]
                if s["start_us"] < to and s["end_us"] > frm]
        assert [s["sha256"] for s in c["segments"]] == [s["sha256"] for s in want]
        assert c["name"] == f"Camera {c['id'][1]}" and c["location"] == f"Gate {c['id'][1]}"
        assert c["integrity"]["covered_by_checkpoint"] is True
        for got, src in zip(c["segments"], want):
            assert (pkg / got["path"]).read_bytes() == (root / src["path"]).read_bytes()
            assert got["chain"] == src["chain"]
        chain = (pkg / "integrity" / f"{c['id']}.chain").read_text().splitlines()
        assert chain[0].startswith("prev ")
        heads = [l.split() for l in (pkg / "integrity" / "checkpoints.log").read_text().splitlines()
                 if l.startswith(f"head {c['id']} ")]
        last = chain[-1].split()
        assert [last[0], last[3]] in [h[2:4] for h in heads]
    assert "sha256sum -c SHA256SUMS" in (pkg / "README.txt").read_text()

    # Working copies: one per camera (one recorder run), playable, covering the whole range.
    assert sorted(w["camera"] for w in m["working"]) == ["c1", "c2"], m["working"]
    for w in m["working"]:
        path = pkg / w["path"]
        assert w["path"].startswith(f"working/{w['camera']}_") and path.stat().st_size == w["bytes"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == w["sha256"]
        assert w["first_us"] <= frm and w["end_us"] >= to, (w, frm, to)
        assert decode_errors(path) == "", w["path"]
        streams = {s["codec_type"]: s for s in probe_streams(path)}
        assert set(streams) == {"video", "audio"}, streams
        assert abs(float(streams["video"]["duration"]) - (w["end_us"] - w["first_us"]) / 1e6) < 0.2
        cam = next(c for c in m["cameras"] if c["id"] == w["camera"])
        natives = {s["path"] for s in cam["segments"]}
        assert w["sources"] and all(s["path"] in natives for s in w["sources"])


def test_export_errors(recorded, tmp_path):
    root = recorded
    frm, to = middle_range(root)
    base = ["export", "--from", f"@{frm / 1e6}", "--to", f"@{to / 1e6}", "--case", "C1"]
    r = cv(*base, "--camera", "nope", "--out", tmp_path / "a.zip", root=root, check=False)
    assert r.returncode == 1 and "nope" in r.stderr and not (tmp_path / "a.zip").exists()
    r = cv(*base, "--camera", "c1", root=root, check=False)
    assert r.returncode == 2
    r = cv("export", "--camera", "c1", "--from", "@100", "--to", "@200", "--case", "C1",
           "--out", tmp_path / "b.zip", root=root, check=False)
    assert r.returncode == 1 and "no footage" in r.stderr and not (tmp_path / "b.zip").exists()
    assert list(tmp_path.iterdir()) == []


def test_export_aborts_on_a_damaged_segment(recorded, tmp_path):
    root = recorded
    seg = query(root, "c2")["segments"][3]
    path = root / seg["path"]
    data = path.read_bytes()
    try:
        path.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
        r = cv("export", "--camera", "c1,c2", "--from", f"@{seg['start_us'] / 1e6}",
            "--to", f"@{seg['end_us'] / 1e6}", "--case", "C2", "--out", tmp_path / "bad.zip",
            root=root, check=False)
        assert r.returncode == 1 and seg["path"].split("/")[-1] in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1
        assert not (tmp_path / "bad.zip").exists() and not (tmp_path / "bad.zip.tmp").exists()
    finally:
        path.write_bytes(data)


def rezip(src, dst, change):
    """Copy ZIP src to dst through change(name, data) -> data or None (drop); CRCs stay right,
    as an attacker with any ZIP tool would leave them."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zo:
        top = zi.namelist()[0].split("/")[0]
        for info in zi.infolist():
            data = change(info.filename[len(top) + 1:], zi.read(info))
            if data is not None:
                zo.writestr(info.filename, data)
        extra = change(None, None)
        if extra:
            zo.writestr(f"{top}/{extra[0]}", extra[1])


def flip(data, at=200):
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1:]


@pytest.fixture(scope="module")
def package(recorded, tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg") / "case7.zip"
    export(recorded, out)
    return out


def test_verify_accepts_the_package(package):
    r = cv("verify", package, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FAIL" not in r.stdout and "ok signature:" in r.stdout and "ok chain:" in r.stdout
    assert "ok checkpoint: integrity/c1.chain" in r.stdout
    j = json.loads(cv("verify", package, "--json").stdout)
    assert j["valid"] is True and all(c["ok"] for c in j["checks"])


def first_native(package):
    with zipfile.ZipFile(package) as z:
        top = z.namelist()[0].split("/")[0]
        return next(n[len(top) + 1:] for n in z.namelist() if "/native/" in n)


def first_working(package):
    with zipfile.ZipFile(package) as z:
        top = z.namelist()[0].split("/")[0]
        return next(n[len(top) + 1:] for n in z.namelist() if "/working/" in n)


@pytest.mark.parametrize("case", ["segment", "working", "manifest", "removed", "added", "chain"])
def test_verify_names_tampered_files(package, tmp_path, case):
    seg = first_native(package)
    work = first_working(package)

    def change(name, data):
        if name is None:
            return ("notes.txt", b"added later\n") if case == "added" else None
        if case == "segment" and name == seg:
            return flip(data)
        if case == "working" and name == work:
            return flip(data, 20000)
        if case == "manifest" and name == "manifest.json":
            return data.replace(b"Officer Li", b"Officer Lu")
        if case == "removed" and name == seg:
            return None
        if case == "chain" and name == "integrity/c2.chain":
            lines = data.split(b"\n")
            f = lines[2].split(b" ")
            f[1] = str(int(f[1]) + 1000000).encode()  # claim the segment ran a second longer
            lines[2] = b" ".join(f)
            return b"\n".join(lines)
        return data

    bad = tmp_path / "bad.zip"
    rezip(package, bad, change)
    r = cv("verify", bad, check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    fails = [l for l in r.stdout.splitlines() if l.startswith("FAIL ")]
    want = {"segment": seg, "working": work, "manifest": "manifest.json", "removed": seg,
            "added": "notes.txt", "chain": "integrity/c2.chain"}[case]
    assert any(want in l for l in fails), r.stdout


def test_verify_names_a_segment_damaged_inside_the_zip(package, tmp_path):
    """A byte flipped in the ZIP file itself (no rezip): the entry's CRC and hash fail."""
    seg = first_native(package)
    with zipfile.ZipFile(package) as z:
        info = next(i for i in z.infolist() if i.filename.endswith(seg))
    data = bytearray(package.read_bytes())
    h = info.header_offset  # local header: name and extra lengths at 26 and 28
    start = h + 30 + int.from_bytes(data[h + 26:h + 28], "little") + \
        int.from_bytes(data[h + 28:h + 30], "little")
    data[start + 1000] ^= 0x01
    bad = tmp_path / "flipped.zip"
    bad.write_bytes(bytes(data))
    r = cv("verify", bad, check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert any(seg in l for l in r.stdout.splitlines() if l.startswith("FAIL ")), r.stdout


def test_verify_refuses_what_is_not_a_package(package, tmp_path):
    data = package.read_bytes()
    trunc = tmp_path / "trunc.zip"
    trunc.write_bytes(data[:len(data) // 2])
    r = cv("verify", trunc, check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "trunc.zip" in r.stderr, r.stderr

    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("photos/a.txt", "hello")
    r = cv("verify", other, check=False)
    assert r.returncode == 2 and "not a camvault package" in r.stderr, r.stderr

    unsafe = tmp_path / "unsafe.zip"
    with zipfile.ZipFile(package) as zi, zipfile.ZipFile(unsafe, "w") as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info))
        zo.writestr(zi.namelist()[0].split("/")[0] + "/../../evil.sh", "rm -rf /\n")
    r = cv("verify", unsafe, check=False)
    assert r.returncode == 2 and "unsafe entry name" in r.stderr, r.stderr

    for name, text in (("badjson", b'{"format": "camvault export 1", "cameras": ['),
                       ("notours", b'{"format": "something else", "cameras": []}')):
        bad = tmp_path / f"{name}.zip"
        rezip(package, bad, lambda n, d, t=text: t if n == "manifest.json" else
              (None if n is None else d))
        r = cv("verify", bad, check=False)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stdout == "", r.stderr
        assert "manifest.json" in r.stderr and f"{name}.zip" in r.stderr, r.stderr

    r = cv("verify", tmp_path / "absent.zip", check=False)
    assert r.returncode == 2 and "absent.zip" in r.stderr


def test_export_lists_a_camera_outage_as_a_gap(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam")
    cv("camera", "add", "gate", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
    rec = start_recorder(procs, root, tmp_path, segment=2, extra=["--checkpoint-interval", "2"])
    wait_for(lambda: len(query(root, "gate")["segments"]) >= 2, 30, what="two segments")
    sim.close()
    time.sleep(15)  # the 15-s outage of the acceptance list
    back = start_camsim(procs, tmp_path, cameras=1, name="cam", port=sim.port)
    n = len(query(root, "gate")["segments"])
    wait_for(lambda: len(query(root, "gate")["segments"]) >= n + 2, 40,
             what="two segments after the outage")
    rec.close()
    back.close()

    q = query(root, "gate")
    out = tmp_path / "outage.zip"
    cv_export(root, "gate", q["segments"][0]["start_us"], q["segments"][-1]["end_us"], "OUT-1",
              out)
    m = package_manifest(out)
    gaps = m["cameras"][0]["gaps"]
    assert any(g["reason"] == "camera-offline" and g["end_us"] - g["start_us"] >= 12_000_000
               and g["detail"] for g in gaps), gaps
    assert len(m["cameras"][0]["segments"]) == len(q["segments"])
    r = cv("verify", out, check=False)
    assert r.returncode == 0, r.stdout


def test_export_never_leaves_a_partial_package(recorded, tmp_path):
    """What a killed export leaves is FILE.zip.tmp, never FILE.zip; a later export to the same
    name refuses to guess whose the temporary file is and says so."""
    out = tmp_path / "k.zip"
    (tmp_path / "k.zip.tmp").write_bytes(b"PK\x03\x04 half a package")
    r = cv("export", "--camera", "c1", "--from", "@0", "--to", "@4102444800", "--case", "K",
        "--out", out, root=recorded, check=False)
    assert r.returncode == 1 and "k.zip.tmp" in r.stderr and r.stderr.count("\n") == 1
    assert not out.exists()
    (tmp_path / "k.zip.tmp").unlink()
    cv("export", "--camera", "c1", "--from", "@0", "--to", "@4102444800", "--case", "K",
       "--out", out, root=recorded)
    assert out.exists() and not (tmp_path / "k.zip.tmp").exists()
    r = cv("export", "--camera", "c1", "--from", "@0", "--to", "@4102444800", "--case", "K",
           "--out", out, root=recorded, check=False)
    assert r.returncode == 1 and "already exists" in r.stderr
