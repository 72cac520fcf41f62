"""Issue 2, acceptance 4: kill -9 of the recorder mid-segment, then restart.

Every segment closed before the kill must still be indexed and play; the segment being written
is recovered up to its last complete fragment, indexed as recovered, and plays; the time the
recorder was down is a gap that says so.
"""
import signal
import time

from conftest import cv, decode_errors, probe_streams, query, start_camsim, start_recorder, \
    wait_for


def test_kill_9_mid_segment_then_restart(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam", extra=["--audio", "aac"])
    cv("camera", "add", "c1", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
    rec = start_recorder(procs, root, tmp_path, segment=6, name="rec1")
    wait_for(lambda: len(query(root, "c1")["segments"]) >= 2, 40, what="two closed segments")
    time.sleep(3.3)  # well inside the next segment, a few fragments in
    closed = query(root, "c1")["segments"]
    rec.close(signal.SIGKILL)
    t_kill = time.time()
    open_files = {str(p.relative_to(root)) for p in (root / "volumes").rglob("*.mp4")}
    torn = open_files - {s["path"] for s in closed}
    assert len(torn) == 1, torn
    torn = torn.pop()

    time.sleep(2)
    rec2 = start_recorder(procs, root, tmp_path, segment=6, name="rec2")
    wait_for(lambda: any(s["start_us"] / 1e6 > t_kill for s in query(root, "c1")["segments"]),
             30, what="recording after restart")
    rec2.close()
    log = rec2.logfile.read_text()
    assert "recovered segment" in log, log

    q = query(root, "c1")
    by_path = {s["path"]: s for s in q["segments"]}
    for s in closed:
        assert by_path[s["path"]]["sha256"] == s["sha256"]
        assert decode_errors(root / s["path"]) == ""
    r = by_path[torn]
    assert r["recovered"] is True
    assert r["frames"] > 0
    assert (root / torn).stat().st_size == r["bytes"]
    assert decode_errors(root / torn) == ""
    v = [x for x in probe_streams(root / torn) if x["codec_type"] == "video"][0]
    assert int(v["nb_read_frames"]) == r["frames"]
    assert r["end_us"] / 1e6 <= t_kill + 0.5
    gaps = [g for g in q["gaps"] if g["reason"] == "recorder-stopped"]
    assert len(gaps) == 1, q["gaps"]
    assert gaps[0]["start_us"] == r["end_us"]
    assert "killed or crashed" in gaps[0]["detail"]
