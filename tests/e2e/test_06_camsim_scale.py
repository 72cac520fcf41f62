"""camsim at scale: one process serves 1,000 concurrent RTSP sessions, and each gets media.

A small asyncio RTSP client (tests/bench/rtsp_load.py) opens one session per camera path,
cam1..cam1000, over TCP interleaved (DESCRIBE, SETUP, PLAY) and counts RTP packets and video
frames (marker bits). After a few seconds of play camsim is stopped; it hands the kernel what it
can and closes every connection, the client reads to the end, and then each camera's frame count
must equal what camsim's final --stats says it sent. Low bitrate (160x120, 10 fps) keeps the
Python client cheap. No timing is asserted.
"""
import asyncio
import signal
import sys

from conftest import CAMSIM, REPO, Proc, free_port, read_json, wait_for

sys.path.insert(0, str(REPO / "tests" / "bench"))
import rtsp_load  # noqa: E402

SESSIONS = 1000


def test_thousand_sessions_each_receive_rtp_and_stats_agree(tmp_path):
    rtsp_load.raise_fd_limit(SESSIONS + 256)
    port, stats = free_port(), tmp_path / "camsim.json"
    sim = Proc([CAMSIM, "--port", port, "--cameras", SESSIONS, "--name", "cam", "--width", 160,
                "--height", 120, "--fps", 10, "--gop", 10, "--bitrate", "60k",
                "--loop-seconds", 4, "--media-dir", REPO / "build" / "camsim-media", "--stats",
                stats, "--duration", 120], ready="camsim: serving", log=tmp_path / "camsim.log",
               timeout=120)
    try:
        async def play_then_stop(sessions):
            # Every session is playing: let media flow, then stop camsim and read to the end.
            await asyncio.sleep(3)
            sim.send(signal.SIGTERM)

        paths = [f"cam{i}" for i in range(1, SESSIONS + 1)]
        sessions = asyncio.run(rtsp_load.run("127.0.0.1", port, paths, seconds=60, mode="count",
                                             until_eof=True, on_playing=play_then_stop))
        assert sim.close() == 0
    finally:
        sim.close()

    failed = [s.result() for s in sessions if s.error or not s.playing]
    assert not failed, f"{len(failed)} sessions failed, e.g. {failed[:3]}"
    assert all(s.eof for s in sessions), "camsim did not close every connection at exit"
    silent = [s.path for s in sessions if s.rtp_packets == 0 or s.frames == 0]
    assert not silent, f"{len(silent)} sessions received no RTP, e.g. {silent[:5]}"
    assert all(s.rtcp_packets >= 1 for s in sessions), "a session got no RTCP sender report"

    final = wait_for(lambda: read_json(stats), 10, what="camsim's final stats")
    assert final["sessions_total"] == SESSIONS
    assert final["sessions_active"] == 0
    assert final["sessions_dropped"] == 0
    mismatch = [(s.path, s.frames, final["cameras"][s.path]["video_frames_sent"])
                for s in sessions
                if s.frames != final["cameras"][s.path]["video_frames_sent"]]
    assert not mismatch, f"client and camsim disagree on frames for {len(mismatch)} cameras, " \
        f"(camera, received, camsim says sent): {mismatch[:5]}"
    assert all(final["cameras"][s.path]["sessions"] == 1 for s in sessions)
