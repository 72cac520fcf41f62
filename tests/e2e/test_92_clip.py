"""Working copies (`camvault clip`) and snapshots (`camvault snapshot`).

Two simulated cameras (H.264 + AAC, and H.265) are recorded in 2-s segments, the recorder is
stopped and started again (a second run after a gap), then stopped. Clips of ranges spanning at
least three segments must decode in ffmpeg without a single error, carry audio, start at or before
the requested start and end at or after the requested end (read from the clip's own prft boxes),
have the right duration, and be byte-identical when built twice. A clip across the restart keeps
the gap in its timeline. A snapshot is a JPEG at the camera's resolution.
"""
import hashlib
import json
import struct
import subprocess
import time

import pytest

from conftest import (cv, decode_errors, fresh_root, probe_streams, query, start_camsim,
                      start_recorder, top_boxes, wait_for)

NTP_UNIX = 2208988800


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A root with two runs of two cameras, the recorder stopped; shared by the tests below."""
    with fresh_root(tmp_path_factory, "clip") as (tmp, root, procs):
        a = start_camsim(procs, tmp, cameras=1, name="a", extra=["--audio", "aac"])
        b = start_camsim(procs, tmp, cameras=1, name="b", extra=["--codec", "h265"])
        cv("camera", "add", "ca", "--url", f"rtsp://127.0.0.1:{a.port}/a1", root=root)
        cv("camera", "add", "cb", "--url", f"rtsp://127.0.0.1:{b.port}/b1", root=root)
        rec = start_recorder(procs, root, tmp, segment=2)
        wait_for(lambda: all(len(query(root, c)["segments"]) >= 6 for c in ("ca", "cb")), 90,
                 what="six segments per camera")
        rec.close()
        time.sleep(1.5)  # a gap between the runs that the clip must keep
        rec = start_recorder(procs, root, tmp, segment=2, name="recorder2")
        wait_for(lambda: all(len(runs(root, c)) == 2 and len(runs(root, c)[1]) >= 3
                             for c in ("ca", "cb")), 90, what="a second run of three segments")
        rec.close()
    return root


def runs(root, camera):
    """The camera's segments grouped by run, in time order."""
    out = []
    for s in query(root, camera)["segments"]:
        if not out or out[-1][0]["run_id"] != s["run_id"]:
            out.append([])
        out[-1].append(s)
    return out


def at(us):
    return f"@{us / 1e6:.6f}"


def clip(root, camera, frm, to, out):
    r = cv("clip", camera, "--from", at(frm), "--to", at(to), "--out", out, "--json", root=root)
    return json.loads(r.stdout)


def prft_walls(data):
    """(wall µs, media_time) of every prft box, in file order."""
    res = []
    for typ, off, size in top_boxes(data):
        if typ == "prft":
            ntp, media = struct.unpack(">QQ", data[off + 16:off + 32])
            secs, frac = ntp >> 32, ntp & 0xffffffff
            if not secs & 0x80000000:
                secs += 1 << 32
            res.append(((secs - NTP_UNIX) * 1_000_000 + (frac * 1_000_000 >> 32), media))
    return res


def video_pts(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                        "packet=pts_time", "-of", "csv=p=0", str(path)],
                       capture_output=True, text=True, timeout=120, check=True)
    return [float(x) for x in r.stdout.split()]


def format_duration(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                        "csv=p=0", str(path)], capture_output=True, text=True, timeout=60,
                       check=True)
    return float(r.stdout)


@pytest.mark.parametrize("camera,vcodec,acodec", [("ca", "h264", "aac"), ("cb", "hevc", None)])
def test_clip_three_segments(recorded, tmp_path, camera, vcodec, acodec):
    segs = runs(recorded, camera)[0]
    frm, to = segs[1]["start_us"] + 500_000, segs[3]["start_us"] + 500_000
    out = tmp_path / f"{camera}.mp4"
    info = clip(recorded, camera, frm, to, out)
    data = out.read_bytes()

    assert len(data) == info["bytes"]
    assert hashlib.sha256(data).hexdigest() == info["sha256"]
    assert len(info["sources"]) >= 3
    assert [s["path"] for s in info["sources"]][:3] == \
        [str(recorded / s["path"]) for s in segs[1:4]]
    assert decode_errors(out) == ""

    # the first frame's wall time (prft of the first fragment) is at or before the start,
    # the end of the last at or after the end, and both agree with what the command says
    walls = prft_walls(data)
    assert walls[0][0] == info["first_us"]
    assert info["first_us"] <= frm < info["first_us"] + 2_100_000
    assert to <= info["end_us"] < to + 2_100_000
    assert [b[0] for b in top_boxes(data)[:3]] == ["ftyp", "moov", "sidx"]
    assert top_boxes(data)[-1][0] == "mfra"

    streams = {s["codec_type"]: s for s in probe_streams(out)}
    assert streams["video"]["codec_name"] == vcodec
    assert (streams["video"]["width"], streams["video"]["height"]) == (640, 360)
    if acodec:
        assert streams["audio"]["codec_name"] == acodec
        assert int(streams["audio"]["nb_read_frames"]) > 0
    span = (info["end_us"] - info["first_us"]) / 1e6
    assert abs(float(streams["video"]["duration"]) - span) < 0.05
    assert abs(format_duration(out) - span) < 0.2
    frames = int(streams["video"]["nb_read_frames"])
    assert abs(frames - span * 25) <= 2

    # deterministic: the same range gives the same bytes
    again = clip(recorded, camera, frm, to, tmp_path / f"{camera}-again.mp4")
    assert again["sha256"] == info["sha256"]

    # ffmpeg can seek into the middle (through the sidx) and decode from there
    r = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-ss", f"{span / 2:.3f}", "-i",
                        str(out), "-frames:v", "5", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == ""


def test_clip_across_restart_keeps_gap(recorded, tmp_path):
    r1, r2 = runs(recorded, "ca")[:2]
    frm, to = r1[-2]["start_us"] + 200_000, r2[1]["start_us"] + 500_000
    out = tmp_path / "restart.mp4"
    info = clip(recorded, "ca", frm, to, out)
    assert decode_errors(out) == ""
    assert {s["run_id"] for s in info["sources"]} == {r1[0]["run_id"], r2[0]["run_id"]}

    gap = (r2[0]["start_us"] - r1[-1]["end_us"]) / 1e6
    assert gap > 0.3, "the restart should leave a visible gap"
    pts = video_pts(out)
    steps = [b - a for a, b in zip(pts, pts[1:])]
    jump = max(steps)
    assert abs(jump - (gap + 0.04)) < 0.05, (jump, gap)
    # after the gap, presentation time + origin is the wall clock of the second run
    second = pts[steps.index(jump) + 1]
    assert abs(info["origin_us"] + second * 1e6 - r2[0]["start_us"]) < 1000
    walls = prft_walls(out.read_bytes())
    assert any(w == r2[0]["start_us"] for w, _ in walls)
    streams = {s["codec_type"]: s for s in probe_streams(out)}
    assert "audio" in streams
    assert abs(float(streams["video"]["duration"]) -
               (info["end_us"] - info["first_us"]) / 1e6) < 0.05


def test_snapshot(recorded, tmp_path):
    for camera in ("ca", "cb"):
        segs = runs(recorded, camera)[0]
        out = tmp_path / f"{camera}.jpg"
        cv("snapshot", camera, "--at", at(segs[2]["start_us"] + 700_000), "--out", out,
           root=recorded)
        assert out.read_bytes()[:2] == b"\xff\xd8"
        s = probe_streams(out)[0]
        assert (s["codec_name"], s["width"], s["height"]) == ("mjpeg", 640, 360)
        assert decode_errors(out) == ""


def test_clip_errors(recorded, tmp_path):
    segs = query(recorded, "ca")["segments"]
    r = cv("clip", "ca", "--from", "@100", "--to", "@200", "--out", tmp_path / "x.mp4",
           root=recorded, check=False)
    assert r.returncode == 1 and "nothing recorded" in r.stderr
    assert not (tmp_path / "x.mp4").exists()
    exists = tmp_path / "exists.mp4"
    exists.write_bytes(b"keep")
    r = cv("clip", "ca", "--from", at(segs[0]["start_us"]), "--to", at(segs[1]["end_us"]),
           "--out", exists, root=recorded, check=False)
    assert r.returncode == 1 and "exists.mp4" in r.stderr
    assert exists.read_bytes() == b"keep"
    r = cv("clip", "ca", "--from", "@200", "--to", "@100", "--out", tmp_path / "y.mp4",
           root=recorded, check=False)
    assert r.returncode == 2
    r = cv("snapshot", "ca", "--at", "@100", "--out", tmp_path / "z.jpg", root=recorded,
           check=False)
    assert r.returncode == 1 and "nothing recorded" in r.stderr
