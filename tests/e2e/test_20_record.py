"""Issue 2, acceptance 1 and 2: record real RTSP servers and check what is on disk.

One recorder records five cameras at once for 30 s with 4-s segments: two served by
gst-rtsp-server (not ours: H.264 + AAC, H.265 + G.711 mu-law) and three by camsim (H.264 + AAC
twice, H.265 + G.711 A-law). The tests then check the files with ffmpeg/ffprobe and compare the
frames recorded with the frames the servers say they sent.
"""
import functools
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (cv, decode_errors, free_port, fresh_root, probe_streams, Proc, query,
                      read_json, start_camsim, start_gst, start_recorder)

RECORD_S = 30
SEGMENT_S = 4  # two GOPs: about seven segments per camera, six boundaries to check
FPS = 25
GOP = 50


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    with fresh_root(tmp_path_factory, "record") as (tmp, root, started):
        # 320x180: the encoders keep real time on a loaded machine (x265 at 640x360 did not,
        # and a camera that falls behind is a camera out of time, not a recorder's fault)
        small = ["--width", "320", "--height", "180"]
        gst_a = start_gst(started, tmp, path="/a", codec="h264", audio="aac", extra=small)
        gst_b = start_gst(started, tmp, path="/b", codec="h265", audio="pcmu", extra=small)
        sim_a = start_camsim(started, tmp, cameras=2, name="cam", extra=["--audio", "aac"])
        sim_b = start_camsim(started, tmp, cameras=1, name="hevc",
                             extra=["--codec", "h265", "--audio", "pcma"])
        cams = {
            "gst-h264-aac": (gst_a.url, gst_a.stats, None),
            "gst-h265-pcmu": (gst_b.url, gst_b.stats, None),
            "sim-1": (f"rtsp://127.0.0.1:{sim_a.port}/cam1", sim_a.stats, "cam1"),
            "sim-2": (f"rtsp://127.0.0.1:{sim_a.port}/cam2", sim_a.stats, "cam2"),
            "sim-h265-pcma": (f"rtsp://127.0.0.1:{sim_b.port}/hevc1", sim_b.stats, "hevc1"),
        }
        for cid, (url, _, _) in cams.items():
            cv("camera", "add", cid, "--url", url, root=root)
        recorder = start_recorder(started, root, tmp, segment=SEGMENT_S)
        # Note when each segment file first appears: an outside view of "real time".
        first_seen = {}
        polling = threading.Event()

        def poll():
            while not polling.is_set():
                now = time.time()
                for f in (root / "volumes").rglob("*"):
                    if f.suffix in (".mp4", ".mov"):
                        first_seen.setdefault(str(f.relative_to(root)), now)
                time.sleep(0.1)

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(RECORD_S)
        alive = recorder.running()
        rc = recorder.close(signal.SIGTERM)
        polling.set()
        poller.join()
        assert alive, Path(recorder.logfile).read_text()[-3000:]
        time.sleep(1.5)  # let the servers write their final counts
        stats = {cid: read_json(s) for cid, (_, s, _) in cams.items()}
        yield {"root": root, "cams": cams, "stats": stats, "first_seen": first_seen, "rc": rc,
               "log": Path(recorder.logfile).read_text()}


@functools.lru_cache(maxsize=None)
def probe(path):
    """probe_streams of a segment, once: the recorder has stopped, the files do not change."""
    return probe_streams(path)


def video_packets(path):
    """(dts, duration) in seconds of every video packet, as ffprobe reads them."""
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                        "packet=dts_time,duration_time", "-of", "csv=p=0", str(path)],
                       capture_output=True, text=True, check=True)
    return [tuple(float(x) for x in line.split(",")[:2]) for line in r.stdout.split()]


def segments(rec, cid):
    return query(rec["root"], cid)["segments"]


CAMS = ["gst-h264-aac", "gst-h265-pcmu", "sim-1", "sim-2", "sim-h265-pcma"]


def test_recorder_exits_cleanly_on_sigterm(rec):
    assert rec["rc"] == 0, rec["log"][-2000:]
    assert " error: " not in rec["log"], rec["log"]


@pytest.mark.parametrize("cid", CAMS)
def test_closed_segments_decode_without_error(rec, cid):
    segs = segments(rec, cid)
    assert len(segs) >= 5, f"{cid}: only {len(segs)} segments in {RECORD_S}s"
    for s in segs:
        path = rec["root"] / s["path"]
        assert path.stat().st_size == s["bytes"]
        assert decode_errors(path) == "", f"{s['path']}: {decode_errors(path)}"
        v = [st for st in probe(path) if st["codec_type"] == "video"][0]
        assert int(v["nb_read_frames"]) == s["frames"], s["path"]


@pytest.mark.parametrize("cid", CAMS)
def test_frames_recorded_equal_frames_served(rec, cid):
    _, _, simname = rec["cams"][cid]
    st = rec["stats"][cid]
    served = st["cameras"][simname]["video_frames_sent"] if simname else st["video_frames"]
    recorded = sum(s["frames"] for s in segments(rec, cid))
    # The recorder starts at the first keyframe (up to one GOP after the first frame) and the
    # last frames in flight when it stops may not be read.
    assert served - GOP - 8 <= recorded <= served, f"{cid}: served {served}, recorded {recorded}"
    # In practice it starts at the very first frame (sent as a keyframe by both servers).
    assert served - recorded <= 8, f"{cid}: served {served}, recorded {recorded}"


def keyframe_sent(st, start):
    """When gst-rtsp-server sent the keyframe captured at `start` (seconds): the wall clock its
    payloader saw it at, which is later than its capture when the encoder fell behind."""
    best = min(st["keyframes"], key=lambda k: abs(st["first_frame_capture"] + k[0] - start))
    captured = st["first_frame_capture"] + best[0]
    assert abs(captured - start) < 0.5, f"no keyframe sent near {start:.3f}: nearest {captured:.3f}"
    return best[1]


@pytest.mark.parametrize("cid", CAMS)
def test_segment_start_is_real_time(rec, cid):
    # A segment's file appears within a second of its first frame's date, and of that frame's
    # arrival: x265 on a loaded machine now and then hands a keyframe over seconds after it was
    # captured (seen: 1.8 s), and no recorder can write a frame before it is sent. camsim sends
    # each frame at its time.
    _, _, simname = rec["cams"][cid]
    for s in segments(rec, cid):
        seen = rec["first_seen"].get(s["path"])
        assert seen is not None, s["path"]
        start = s["start_us"] / 1e6
        sent = start if simname else keyframe_sent(rec["stats"][cid], start)
        assert start - 1.0 < seen < max(start, sent) + 1.0, \
            f"{s['path']}: starts {s['start']}, sent at {sent:.3f}, appeared at {seen:.3f} " \
            f"(run {s['run_id']})"


@pytest.mark.parametrize("cid", ["gst-h264-aac", "gst-h265-pcmu"])
def test_first_segment_starts_at_the_servers_first_frame(rec, cid):
    # gst-rtsp-server notes the wall time of the first frame it sent: an outside clock. The
    # recorder dates frames by capture (media time plus the least delay it has seen), and a frame
    # is captured before the encoder hands it to the payloader, where a Python probe stamps it:
    # the first frame, slowest out of the encoder, is stamped late, by more on a loaded machine.
    # So the server dates it the recorder's way too (its stamp less the least delay of the
    # frames after it), and the recorder, which sees every frame later still, is not before that.
    st = rec["stats"][cid]
    first, capture = st["first_frame_wallclock"], st["first_frame_capture"]
    start = segments(rec, cid)[0]["start_us"] / 1e6
    assert -0.05 <= start - capture and start - first < 1.0, \
        f"{cid}: first frame sent {first:.3f} (captured {capture:.3f}), segment starts {start:.3f}"


@pytest.mark.parametrize("cid", CAMS)
def test_consecutive_segments_leave_no_hole(rec, cid):
    segs = segments(rec, cid)
    runs = {}
    for s in segs:
        runs.setdefault(s["run_id"], []).append(s)
    assert len(runs) == 1, f"{cid}: the stream was cut into {len(runs)} runs"
    for run in runs.values():
        run.sort(key=lambda s: s["run_seq"])
        assert [s["run_seq"] for s in run] == list(range(len(run)))
        for a, b in zip(run, run[1:]):
            hole = b["start_us"] - a["end_us"]
            # Never an overlap (times never go back within a run), never a hole over one frame.
            assert 0 <= hole <= 1e6 / FPS, (a["path"], b["path"], hole)
            # each file plays by itself from 0 for its own duration (issue 18, finding 4): its
            # decode times start at 0 and its last frame ends at its indexed length
            pa = video_packets(rec["root"] / a["path"])
            assert abs(pa[0][0]) < 0.002, (a["path"], pa[0])
            length = (a["end_us"] - a["start_us"]) / 1e6
            assert abs(pa[-1][0] + pa[-1][1] - length) < 1 / FPS, (a["path"], pa[-1], length)


@pytest.mark.parametrize("cid,vcodec,acodec", [
    ("gst-h264-aac", "h264", "aac"),
    ("gst-h265-pcmu", "hevc", "pcm_mulaw"),
    ("sim-1", "h264", "aac"),
    ("sim-h265-pcma", "hevc", "pcm_alaw"),
])
def test_codecs_and_audio_are_kept(rec, cid, vcodec, acodec):
    for s in segments(rec, cid):
        streams = probe(rec["root"] / s["path"])
        v = [x for x in streams if x["codec_type"] == "video"]
        a = [x for x in streams if x["codec_type"] == "audio"]
        assert v and v[0]["codec_name"] == vcodec, s["path"]
        assert a and a[0]["codec_name"] == acodec, f"{s['path']}: audio missing or wrong: {a}"
        vdur, adur = float(v[0]["duration"]), float(a[0]["duration"])
        assert abs(vdur - adur) < 0.3, f"{s['path']}: video {vdur}s, audio {adur}s"
        assert s["path"].endswith(".mov" if acodec.startswith("pcm") else ".mp4")
