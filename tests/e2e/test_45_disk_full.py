"""A full disk: the recorder says so in one line and loses nothing already recorded.

The volume is a 1.5 MiB tmpfs (the tests run as root, as CI does). The camera records until the
disk is full: the segments closed before stay indexed and play, the segment being written when
space ran out is kept up to its last complete fragment, the camera's status names the cause, and
the recorder keeps running. Retention by space (test_72) would free room first; the volume is
small enough that the write fails before usage reaches its 95 % mark, so this test sees the
disk-full path itself.
"""
import os

import pytest

from conftest import (cameras, cv, decode_errors, query, start_camsim, start_recorder, tmpfs_at,
                      wait_for)


@pytest.fixture
def small_volume(root):
    with tmpfs_at(root / "volumes" / "main", "1536k") as vol:
        yield vol


def test_disk_full_keeps_what_was_recorded(root, small_volume, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam")
    cv("camera", "add", "c1", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
    rec = start_recorder(procs, root, tmp_path, segment=4)

    def full():
        st = cameras(root)["c1"]["status"]
        return st and not st["online"] and "No space left on device" in st["reason"]

    wait_for(full, 90, what="the camera to report the full disk")
    reason = cameras(root)["c1"]["status"]["reason"]
    assert "cannot write segment" in reason and "volumes/main/c1" in reason, reason
    assert rec.running()
    rec.close()
    segs = query(root, "c1")["segments"]
    assert len(segs) >= 2, segs
    for s in segs:
        f = root / s["path"]
        assert f.stat().st_size == s["bytes"], s
        assert decode_errors(f) == "", s["path"]
    assert any(s["recovered"] for s in segs), "the segment cut short by the full disk is kept"
    log = rec.logfile.read_text()
    assert "kept up to its last complete fragment" in log, log[-2000:]
    # nothing unindexed is left behind on the volume
    on_disk = {str(p.relative_to(root)) for p in small_volume.rglob("*.mp4")}
    assert on_disk == {s["path"] for s in segs}
