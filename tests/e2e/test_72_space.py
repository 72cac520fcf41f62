"""Issue 3, acceptance 3: a volume that fills up.

The volume is a 3 MiB tmpfs (the high-water mark is 95 % of it) and a camera sends about
1 Mbit/s in 2-s segments, so it is full within half a minute; a retention pass every second
writes at most ~125 kB between passes, within the 150 kB above the mark. Recording must go on
past that point for ten more segments' worth (most of the volume again), deleting the oldest
unheld footage and never held footage; with only held footage left the status and the log must
say why recording is short; once the hold is released it recovers by itself.
"""
import time

import pytest

from conftest import (cameras, cv, decode_errors, query, start_camsim, start_recorder, tmpfs_at,
                      wait_for)


@pytest.fixture
def small_volume(root):
    with tmpfs_at(root / "volumes" / "main", "3m") as vol:
        yield vol


def reason(root):
    st = cameras(root)["c1"]["status"]
    return st["reason"] if st else ""


def deleted_s(root):
    """Seconds of c1's footage deleted by retention so far."""
    return sum(g["end_us"] - g["start_us"] for g in query(root, "c1")["gaps"]
               if g["reason"] == "retention") / 1e6


def test_full_volume_deletes_oldest_unheld_and_recovers(root, small_volume, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam", extra=["--bitrate", "1000k"])
    cv("camera", "add", "c1", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
    rec = start_recorder(procs, root, tmp_path, segment=2, extra=["--retention-interval", "1"])
    wait_for(lambda: len(query(root, "c1")["segments"]) >= 3, 60, what="three segments")
    first = query(root, "c1")["segments"]
    t0 = first[0]["start_us"]
    cv("hold", "add", "--case", "quarrel-3", "--camera", "c1", "--from", f"@{t0 / 1e6}",
       "--to", f"@{first[1]['end_us'] / 1e6 - 0.001}", root=root)
    held = {s["path"]: s["sha256"] for s in first[:2]}

    # Past the point where 3 MiB would be full: keep recording, delete the oldest unheld, for
    # ten more segments' worth.
    wait_for(lambda: any(g["reason"] == "retention" for g in query(root, "c1")["gaps"]), 120,
             step=1, what="space retention to start deleting")
    since = deleted_s(root)
    wait_for(lambda: deleted_s(root) >= since + 20, 90, step=1,
             what="recording and deleting to go on for 20 s more footage")
    q = query(root, "c1")
    assert q["segments"][-1]["end_us"] / 1e6 > time.time() - 8, "recording stopped"
    present = {s["path"]: s for s in q["segments"]}
    for p, sha in held.items():
        assert p in present and present[p]["sha256"] == sha, "held footage deleted"
        assert decode_errors(root / p) == ""
    gaps = [g for g in q["gaps"] if g["reason"] == "retention"]
    assert gaps and "volume 'main' over its limit" in gaps[0]["detail"], q["gaps"]
    assert gaps[0]["start_us"] == first[2]["start_us"], "the oldest unheld footage goes first"

    # Hold everything: only held footage is left, so recording runs short. It must say so.
    big = cv("hold", "add", "--case", "everything", "--camera", "c1", "--from", "@0", "--to",
             f"@{time.time() + 3600}", root=root).stdout.split()[1]
    wait_for(lambda: "only held footage" in reason(root), 90, step=1,
             what="the status to say only held footage is left")
    assert "only held footage" in rec.logfile.read_text()
    # Space comes back when the hold goes: recording is normal again by itself.
    cv("hold", "release", big, root=root)
    t_rel = time.time()
    wait_for(lambda: cameras(root)["c1"]["status"]["online"] and
             "only held footage" not in reason(root), 60, step=1, what="recovery")
    wait_for(lambda: query(root, "c1")["segments"][-1]["start_us"] / 1e6 > t_rel, 30, step=1,
             what="new segments after the release")
    assert rec.running()
    rec.close()
    present = {s["path"] for s in query(root, "c1")["segments"]}
    assert set(held) <= present
