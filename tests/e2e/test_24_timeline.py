"""Every recorded segment is indexed, also when the recorder's clock steps back.

A camsim camera is recorded with 2-s segments; the recorder stops, and starts again with its
wall clock 120 s behind (libfaketime: the RTC of a machine that booted with a wrong clock). In a
second test the clock steps back under a running recorder (an NTP step) and the camera then
reconnects, so a new run starts at the stepped time. The footage recorded after the step arrives "before" what is indexed already.
Each file on disk must be in `camvault query --json` (none left out of search, export and
retention), the late ones flagged `shifted` with the time they were really received, the
timeline strictly in order; `camvault fsck` finds nothing, and `fsck --rebuild`, deciding again
from the files, gives back the same records (times, flags, hashes, chain links).
"""
import os
import re
from pathlib import Path

import pytest

from conftest import CAMVAULT, Proc, cv, query, start_camsim, start_recorder, wait_for

FAKETIME_LIBS = [Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"),
                 Path("/usr/lib/faketime/libfaketimeMT.so.1")]
STEP_S = 120
SUMMARY = re.compile(r"^fsck: (\d+) files, (\d+) records, (\d+) findings, (\d+) repaired$")


def faketime_lib():
    for p in FAKETIME_LIBS:
        if p.exists():
            return p
    pytest.fail("libfaketime is needed (Debian package libfaketime)")


def disk_files(root, cam):
    return sorted(str(p.relative_to(root)) for p in (root / "volumes").rglob(f"{cam}/*/*.mp4"))


def us(t):
    """µs UTC of an RFC 3339 time as query --json writes it (2026-11-22T09:30:00.123456Z)."""
    from datetime import datetime
    return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1e6)


def fsck(root, *args):
    r = cv("fsck", *args, root=root, check=False, timeout=300)
    out = r.stdout.strip().splitlines()
    m = SUMMARY.match(out[-1]) if out else None
    assert m, f"no summary line: {r.stdout!r} {r.stderr!r}"
    return r.returncode, out[:-1], [int(x) for x in m.groups()]


def check_timeline(root, before, log):
    """Every file indexed, in order, the footage after `before` shifted by about STEP_S."""
    segs = query(root, "c1")["segments"]
    files = disk_files(root, "c1")
    assert sorted(s["path"] for s in segs) == files, (files, segs, log.read_text())
    starts = [us(s["start"]) for s in segs]
    assert starts == sorted(starts) and len(set(starts)) == len(starts), segs
    for a, b in zip(segs, segs[1:]):
        assert us(b["start"]) >= us(a["end"]), (a, b)
    assert before == segs[:len(before)], "footage from before the step changed"
    late = segs[len(before):]
    assert late and any(s["shifted"] for s in late), late
    for s in late:
        assert us(s["start"]) >= us(before[-1]["end"]), s
        if s["shifted"]:
            lag = us(s["start"]) - us(s["received_start"])
            assert STEP_S * 1e6 - 30e6 < lag < STEP_S * 1e6 + 30e6, s
    assert re.search(r"camera 'c1': segment '.*' was received at .* flagged 'shifted'",
                     log.read_text()), log.read_text()
    return segs, files


def check_fsck_and_rebuild(root, segs, files):
    """fsck finds nothing orphaned; a rebuild from the files makes the same records."""
    status, lines, (nfiles, nrec, findings, _) = fsck(root)
    assert (status, lines, findings) == (0, [], 0), lines
    assert nfiles == nrec == len(files)
    status, lines, _ = fsck(root, "--rebuild")
    assert status == 0, lines
    assert query(root, "c1")["segments"] == segs
    status, lines, (_, _, findings, _) = fsck(root)
    assert (status, findings) == (0, 0), lines


def test_clock_step_under_running_recorder_then_reconnect(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam")
    cv("camera", "add", "c1", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
    clock = tmp_path / "faketime"
    clock.write_text("+0\n")
    env = dict(os.environ, LD_PRELOAD=str(faketime_lib()), FAKETIME_TIMESTAMP_FILE=str(clock),
               FAKETIME_CACHE_DURATION="1", FAKETIME_DONT_FAKE_MONOTONIC="1")
    log = tmp_path / "recorder.log"
    rec = Proc([CAMVAULT, "record", "--root", root, "--segment-seconds", 2], log=log, env=env)
    procs.append(rec)
    wait_for(lambda: len(query(root, "c1")["segments"]) >= 2, 60, what="two segments")
    # The clock steps back; the camera drops and comes back: a new run at the stepped time.
    clock.write_text(f"-{STEP_S}\n")
    before = query(root, "c1")["segments"]
    sim.close()
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam", port=sim.port)
    n0 = len(disk_files(root, "c1"))
    wait_for(lambda: len(disk_files(root, "c1")) >= n0 + 3, 60,
             what="three more segment files after the reconnect")
    rec.close()
    segs, files = check_timeline(root, before, log)
    check_fsck_and_rebuild(root, segs, files)


def test_clock_step_back_keeps_every_segment_indexed(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam")
    cv("camera", "add", "c1", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
    rec = start_recorder(procs, root, tmp_path, segment=2)
    wait_for(lambda: len(query(root, "c1")["segments"]) >= 2, 60, what="two segments")
    rec.close()
    before = query(root, "c1")["segments"]

    # The same recorder, its wall clock now 120 s behind (monotonic time left alone).
    env = dict(os.environ, LD_PRELOAD=str(faketime_lib()), FAKETIME=f"-{STEP_S}",
               FAKETIME_DONT_FAKE_MONOTONIC="1")
    log = tmp_path / "recorder-stepped.log"
    stepped = Proc([CAMVAULT, "record", "--root", root, "--segment-seconds", 2], log=log, env=env)
    procs.append(stepped)
    n0 = len(disk_files(root, "c1"))
    wait_for(lambda: len(disk_files(root, "c1")) >= n0 + 3, 60,
             what="three more segment files after the clock stepped back")
    stepped.close()

    segs, files = check_timeline(root, before, log)
    late = segs[len(before):]
    assert all(s["shifted"] for s in late) and not any(s["shifted"] for s in before), segs
    check_fsck_and_rebuild(root, segs, files)
