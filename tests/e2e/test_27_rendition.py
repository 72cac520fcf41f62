"""Issue 18, finding 1: H.265 segments are tagged hvc1, and the server makes an H.264 rendition
of video.mp4 and live.mp4 on demand (?rendition=h264) for browsers without HEVC.

One H.265 camera (camsim, 640x360, 25 fps) recorded in 3-s segments, a server with
rendition_sessions_max = 1 and rendition_max_height = 240 (camvault.conf):
- every segment's sample entry is hvc1 (ffprobe codec_tag_string), and so is video.mp4's;
- video.mp4?rendition=h264 decodes with ffprobe as H.264, 426x240, with the frames and the
  duration of the original clip (within one frame);
- live.mp4?rendition=h264 streams H.264 that decodes;
- with the one session in use, a second rendition gets 503 and the message the UI shows;
- every rendition view is in the audit log like the original (view-video, view-live).
"""
import http.client
import json
import socket
import subprocess
import threading

import pytest

from conftest import cv, query, start_camsim, start_recorder, wait_for
from httpapi import add_user, audit_records, logged_in, start_server

MSG = "H.264 rendition: all 1 transcoding sessions of this server are in use"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rendition")
    root = tmp / "root"
    cv("init", root=root)
    (root / "camvault.conf").write_text("rendition_sessions_max = 1\nrendition_max_height = 240\n")
    procs = []
    try:
        sim = start_camsim(procs, tmp, cameras=1, name="cam", extra=["--codec", "h265"])
        cv("camera", "add", "h265cam", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
        start_recorder(procs, root, tmp, segment=3)
        srv = start_server(procs, root, tmp)
        add_user(root, "olga", "officer")
        add_user(root, "ray", "resident")
        wait_for(lambda: len(query(root, "h265cam")["segments"]) >= 3, 90, what="three segments")
        yield root, srv, tmp
    finally:
        for p in reversed(procs):
            p.close()


def ffprobe(path, *entries):
    r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                        "-show_entries", "stream=" + ",".join(entries), "-of", "json", str(path)],
                       capture_output=True, text=True, timeout=120, check=True)
    return json.loads(r.stdout)["streams"][0]


def clip_range(root):
    segs = query(root, "h265cam")["segments"]
    return segs[0]["start_us"], segs[2]["end_us"]


def video_path(frm, to, rendition=True):
    q = f"from=@{frm / 1e6:.6f}&to=@{to / 1e6:.6f}"
    return f"/api/v1/cameras/h265cam/video.mp4?{q}" + ("&rendition=h264" if rendition else "")


def test_segments_are_hvc1(stack):
    root, srv, tmp = stack
    seg = query(root, "h265cam")["segments"][0]
    path = next((root / "volumes").glob("*")) / seg["path"].split("/", 1)[1] \
        if not (root / seg["path"]).exists() else root / seg["path"]
    p = ffprobe(path, "codec_name", "codec_tag_string")
    assert (p["codec_name"], p["codec_tag_string"]) == ("hevc", "hvc1"), p
    off = logged_in(srv.port, "olga")
    frm, to = clip_range(root)
    r = off.get(video_path(frm, to, rendition=False))
    assert r.status == 200, r
    (tmp / "orig.mp4").write_bytes(r.body)
    p = ffprobe(tmp / "orig.mp4", "codec_name", "codec_tag_string")
    assert (p["codec_name"], p["codec_tag_string"]) == ("hevc", "hvc1"), p


def test_video_rendition_is_h264_with_every_frame(stack):
    root, srv, tmp = stack
    off = logged_in(srv.port, "olga")
    frm, to = clip_range(root)
    orig = off.get(video_path(frm, to, rendition=False))
    assert orig.status == 200, orig
    (tmp / "orig.mp4").write_bytes(orig.body)
    r = off.get(video_path(frm, to))
    assert r.status == 200, r
    assert r.header("Content-Type") == "video/mp4"
    assert r.header("X-Camvault-Rendition") == "h264"
    assert r.header("X-Camvault-Start") == orig.header("X-Camvault-Start")
    (tmp / "rend.mp4").write_bytes(r.body)
    o = ffprobe(tmp / "orig.mp4", "nb_read_frames", "duration")
    p = ffprobe(tmp / "rend.mp4", "codec_name", "width", "height", "nb_read_frames", "duration")
    assert (p["codec_name"], p["width"], p["height"]) == ("h264", 426, 240), p
    assert int(p["nb_read_frames"]) == int(o["nb_read_frames"]) > 0, (p, o)
    assert abs(float(p["duration"]) - float(o["duration"])) <= 0.041, (p, o)
    err = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(tmp / "rend.mp4"), "-f",
                          "null", "-"], capture_output=True, text=True, timeout=120)
    assert err.returncode == 0 and not err.stderr.strip(), err.stderr
    recs = audit_records(root)
    assert any(a["action"] == "view-video" and a.get("detail") == "rendition h264"
               and a["user"] == "olga" for a in recs), recs[-5:]


class Stream:
    """One live rendition held open in a thread; keeps the bytes it got."""

    def __init__(self, port, cookie):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.c.connect()
        self.sock = self.c.sock
        self.c.request("GET", "/api/v1/cameras/h265cam/live.mp4?rendition=h264",
                       headers={"Cookie": f"cv_session={cookie}"})
        self.resp = self.c.getresponse()
        self.data = bytearray()
        self.done = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            while not self.done:
                b = self.resp.read1(65536)
                if not b:
                    break
                self.data += b
        except (OSError, ValueError, http.client.HTTPException):  # shut down under read1
            pass

    def close(self):
        self.done = True
        self.sock.shutdown(socket.SHUT_RDWR)  # the viewer leaves (close alone waits for read1)
        self.c.close()
        self.t.join(10)


def test_live_rendition_and_session_limit(stack):
    root, srv, tmp = stack
    ray = logged_in(srv.port, "ray")
    assert ray.get("/api/v1/cameras/h265cam/live.mp4?rendition=h264").status == 404  # not public
    cv("camera", "edit", "h265cam", "--public", root=root, check=False)
    off = logged_in(srv.port, "olga")
    s = Stream(srv.port, off.cookie)
    try:
        assert s.resp.status == 200, s.resp.status
        assert s.resp.getheader("X-Camvault-Rendition") == "h264"
        # Three fragments of H.264 (a keyframe a second): it follows the recording.
        wait_for(lambda: s.data.count(b"moof") >= 3, 60, what="three live rendition fragments")
        r = off.get("/api/v1/cameras/h265cam/live.mp4?rendition=h264")
        assert r.status == 503 and r.json()["error"].startswith(MSG), r
        assert r.header("Retry-After")
        frm, to = clip_range(root)
        r = off.get(video_path(frm, to))
        assert r.status == 503 and r.json()["error"].startswith(MSG), r
        assert off.get(video_path(frm, to, rendition=False)).status == 200  # originals: no limit
        assert off.call("HEAD", video_path(frm, to)).status == 503  # the UI's probe
    finally:
        s.close()
    (tmp / "live.mp4").write_bytes(bytes(s.data))
    p = ffprobe(tmp / "live.mp4", "codec_name", "width", "height", "nb_read_frames")
    assert (p["codec_name"], p["width"], p["height"]) == ("h264", 426, 240), p
    assert int(p["nb_read_frames"]) >= 50, p
    recs = audit_records(root)
    assert any(a["action"] == "view-live" and (a.get("detail") or "").startswith("rendition h264 ")
               for a in recs), recs[-5:]
    # The session is free again once the viewer left.
    wait_for(lambda: off.call("HEAD", video_path(frm, to)).status == 200, 30, what="the session freed")
    # HEAD takes no session and views nothing: no audit record, and the one session is still free.
    n = len(audit_records(root))
    assert off.call("HEAD", "/api/v1/cameras/h265cam/live.mp4?rendition=h264").status == 200
    assert len(audit_records(root)) == n
    assert off.get(video_path(frm, to)).status == 200


def test_unknown_rendition_and_bad_conf(stack, tmp_path):
    root, srv, tmp = stack
    off = logged_in(srv.port, "olga")
    r = off.get("/api/v1/cameras/h265cam/live.mp4?rendition=vp9")
    assert r.status == 400 and "unknown rendition 'vp9'" in r.json()["error"], r
    # The originals' reach: a mediator without a case sees neither, a resident no recordings.
    add_user(root, "mei", "mediator")
    mei = logged_in(srv.port, "mei")
    frm, to = clip_range(root)
    r = mei.get(video_path(frm, to))
    assert r.status == 403 and "outside your cases" in r.json()["error"], r
    assert mei.get("/api/v1/cameras/h265cam/live.mp4?rendition=h264").status == 403
    assert logged_in(srv.port, "ray").get(video_path(frm, to)).status == 403
    bad = tmp_path / "bad"
    cv("init", root=bad)
    (bad / "camvault.conf").write_text("rendition_sessions_max = lots\n")
    p = cv("serve", "--listen", "127.0.0.1:1", root=bad, check=False)
    assert p.returncode != 0
    assert "rendition_sessions_max: expected a whole number from 1 to 64, not 'lots'" in p.stderr


def test_export_of_hvc1_footage_verifies(stack, tmp_path):
    """Exports and `camvault verify` take hvc1 segments; the working copy keeps the entry."""
    import zipfile
    root, srv, tmp = stack
    frm, to = clip_range(root)
    pkg = tmp_path / "h265.zip"
    cv("export", "--camera", "h265cam", "--from", f"@{frm / 1e6}", "--to", f"@{to / 1e6}",
       "--case", "C1", "--out", pkg, root=root)
    r = cv("verify", pkg, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    with zipfile.ZipFile(pkg) as z:
        work = [n for n in z.namelist() if "/working/" in n and n.endswith(".mp4")]
        assert work, z.namelist()
        (tmp_path / "work.mp4").write_bytes(z.read(work[0]))
    p = ffprobe(tmp_path / "work.mp4", "codec_name", "codec_tag_string")
    assert (p["codec_name"], p["codec_tag_string"]) == ("hevc", "hvc1"), p
