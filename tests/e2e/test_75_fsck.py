"""fsck: the index against the disk (`camvault fsck [--repair | --rebuild]`).

Three camsim cameras are recorded for about 15 s with 3-s segments. `camvault fsck` must find
nothing, first beside the running recorder (a check is read-only and safe alongside it), then
after it stopped. `camvault fsck --rebuild` must give back every record exactly (times, bytes,
hash, frames, chain link) and keep the old index. Then the disk is damaged three ways (a flipped
byte, a deleted segment, a stray file): `camvault fsck` exits 1 with one line per finding naming
each file; `--repair` fixes what is safe and leaves the altered file to be reported again.

Output contract: one line per finding or action, then
"fsck: N files, N records, N findings, N repaired"; exit 0 when no findings remain, 1 otherwise.
"""
import re
import time

from conftest import cv, query, start_camsim, start_recorder, wait_for

CAMS = ("c1", "c2", "c3")
FIELDS = ("start_us", "end_us", "bytes", "sha256", "frames", "chain")
SUMMARY = re.compile(r"^fsck: (\d+) files, (\d+) records, (\d+) findings, (\d+) repaired$")


def records(root):
    return {c: query(root, c)["segments"] for c in CAMS}


def fsck(root, *args):
    """Run camvault fsck; returns (exit status, finding/action lines, summary numbers)."""
    r = cv("fsck", *args, root=root, check=False, timeout=300)
    out = r.stdout.strip().splitlines()
    m = SUMMARY.match(out[-1]) if out else None
    assert m, f"no summary line: {r.stdout!r} {r.stderr!r}"
    files, nrec, findings, repaired = (int(x) for x in m.groups())
    return r.returncode, out[:-1], dict(files=files, records=nrec, findings=findings,
                                        repaired=repaired)


def test_fsck_check_rebuild_and_damage(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=3, name="cam")
    for i, cam in enumerate(CAMS, 1):
        cv("camera", "add", cam, "--url", f"rtsp://127.0.0.1:{sim.port}/cam{i}", root=root)
    rec = start_recorder(procs, root, tmp_path, segment=3)
    t0 = time.monotonic()
    wait_for(lambda: all(len(s) >= 3 for s in records(root).values()), 60,
             what="three closed segments per camera")

    # Beside the running recorder: the files it is writing are no findings.
    status, lines, n = fsck(root)
    assert (status, lines, n["findings"]) == (0, [], 0), lines
    time.sleep(max(0.0, 15 - (time.monotonic() - t0)))
    rec.close()

    status, lines, n = fsck(root)
    saved = records(root)
    total = sum(len(s) for s in saved.values())
    assert (status, lines) == (0, []), lines
    assert n == dict(files=total, records=total, findings=0, repaired=0), n

    # Rebuild from the files alone: the same records, field by field; the old index kept.
    status, lines, n = fsck(root, "--rebuild")
    assert status == 0, lines
    assert n["findings"] == 0 and n["records"] == total, (n, lines)
    assert any(l.startswith(f"index: rebuilt with {total} records") for l in lines), lines
    assert len(list(root.glob("index.old-*"))) == 1
    rebuilt = records(root)
    for cam in CAMS:
        assert len(rebuilt[cam]) == len(saved[cam]), cam
        for got, want in zip(rebuilt[cam], saved[cam]):
            for field in FIELDS:
                assert got[field] == want[field], (cam, want["path"], field)
    status, lines, n = fsck(root)
    assert (status, lines, n["findings"]) == (0, [], 0), lines

    # Damage: a flipped byte, a deleted segment, a stray file.
    flipped = saved["c1"][1]["path"]
    deleted = saved["c2"][1]["path"]
    stray = str((root / saved["c3"][0]["path"]).parent.relative_to(root) / "notes.txt")
    with open(root / flipped, "r+b") as f:
        f.seek((root / flipped).stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    (root / deleted).unlink()
    (root / stray).write_text("not footage\n")

    status, lines, n = fsck(root)
    assert status == 1
    assert n["findings"] == 3 and n["repaired"] == 0, (n, lines)
    assert len(lines) == 3, lines
    assert any(l.startswith(f"{flipped}: hash mismatch: index says ") for l in lines), lines
    assert any(l.startswith(f"{deleted}: record without file") for l in lines), lines
    assert any(l.startswith(f"{stray}: not a segment file") for l in lines), lines

    # Repair: the stray goes to quarantine/, the missing file becomes a tombstone; the altered
    # file is evidence and stays as it is, so fsck still fails, naming only it.
    status, lines, n = fsck(root, "--repair")
    assert status == 1 and n["findings"] == 3 and n["repaired"] == 2, (n, lines)
    assert any(l.startswith(f"{flipped}: hash mismatch") and "not repairable" in l
               for l in lines), lines
    assert (root / "quarantine" / stray.replace("/", "_")).read_text() == "not footage\n"
    assert deleted not in [s["path"] for s in query(root, "c2")["segments"]]
    status, lines, n = fsck(root)
    assert status == 1 and n["findings"] == 1, (n, lines)
    assert len(lines) == 1 and lines[0].startswith(f"{flipped}: hash mismatch"), lines
