"""live.m3u8: HLS of the same stored chunks for players that cannot take a growing fMP4 stream.

A stock player (ffmpeg's HLS demuxer) opens the live view by URL, with the session cookie as a
header, and decodes 10 s without an error, across a segment file change (4-s segments of 2-s
GOPs); the playlist lists only complete fragments, with stable media sequence numbers; a fragment
URL answers the same bytes as the stored file; roles and audit as for live.mp4.
"""
import re
import subprocess
import time

from conftest import cv, start_camsim, start_recorder, wait_for, query
from httpapi import add_user, audit_records, logged_in, start_server, Client


def media_playlist(u):
    r = u.get("/api/v1/cameras/gate/live.m3u8?media=1")
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/vnd.apple.mpegurl"
    return r.body.decode()


def test_hls_plays_in_ffmpeg(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=2, name="c")
    cv("camera", "add", "gate", "--url", f"rtsp://127.0.0.1:{sim.port}/c1", root=root)
    cv("camera", "add", "yard", "--url", f"rtsp://127.0.0.1:{sim.port}/c2", root=root)
    add_user(root, "olga", "officer")
    add_user(root, "carol", "resident")
    start_recorder(procs, root, tmp_path, segment=4)
    srv = start_server(procs, root, tmp_path)
    wait_for(lambda: len(query(root, "gate")["segments"]) >= 1, 60, what="a closed segment")
    u = logged_in(srv.port, "olga")
    wait_for(lambda: u.get("/api/v1/cameras/gate/live.m3u8").status == 200, 30,
             what="the playlist")

    # The master playlist points at the media playlist; it is the audited "open".
    master = u.get("/api/v1/cameras/gate/live.m3u8").body.decode()
    assert master.startswith("#EXTM3U\n") and "live.m3u8?media=1" in master, master
    assert "#EXT-X-STREAM-INF:BANDWIDTH=" in master
    pl = media_playlist(u)
    assert "#EXT-X-MAP:URI=\"live-init.mp4?" in pl, pl
    seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", pl).group(1))
    frags = re.findall(r"^live-frag\.m4s\?(\S+)$", pl, re.M)
    assert frags, pl
    # A listed fragment is stored bytes: a prft, the fraginfo, then moof/mdat chunks.
    body = u.get(f"/api/v1/cameras/gate/live-frag.m4s?{frags[0]}").body
    assert body[4:8] == b"prft" and body.count(b"moof") >= 2, body[:64]
    # Sequence numbers are stable: after a reload the first fragment of the earlier playlist
    # has the same number.
    time.sleep(2.5)
    pl2 = media_playlist(u)
    seq2 = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", pl2).group(1))
    frags2 = re.findall(r"^live-frag\.m4s\?(\S+)$", pl2, re.M)
    for i, f in enumerate(frags2):
        if f in frags:
            assert seq2 + i == seq + frags.index(f), (pl, pl2)

    # ffmpeg plays it for 10 s (across at least two segment files) without an error.
    r = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-headers",
                        f"Cookie: cv_session={u.cookie}\r\n", "-i",
                        f"http://127.0.0.1:{srv.port}/api/v1/cameras/gate/live.m3u8",
                        "-t", "10", "-f", "null", "-"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    r = subprocess.run(["ffprobe", "-v", "error", "-headers", f"Cookie: cv_session={u.cookie}\r\n",
                        "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                        f"http://127.0.0.1:{srv.port}/api/v1/cameras/gate/live.m3u8"],
                       capture_output=True, text=True, timeout=60)
    assert set(r.stdout.split()) == {"h264"}, r

    # Same rules as live.mp4: nobody gets nothing, a resident no private camera.
    nobody = Client(srv.port)
    assert nobody.get("/api/v1/cameras/gate/live.m3u8").status == 401
    assert nobody.get(f"/api/v1/cameras/gate/live-frag.m4s?{frags[0]}").status == 401
    carol = logged_in(srv.port, "carol")
    assert carol.get("/api/v1/cameras/gate/live.m3u8").status == 404
    assert carol.get(f"/api/v1/cameras/gate/live-frag.m4s?{frags[0]}").status == 404
    # A fragment of another offset than a listed one, or of a file that is not this camera's.
    run, sq, off = re.match(r"run=(\d+)&seq=(\d+)&o=(\d+)", frags[0]).groups()
    assert u.get(f"/api/v1/cameras/gate/live-frag.m4s?run={run}&seq={sq}&o={int(off) + 1}") \
        .status == 404
    assert u.get(f"/api/v1/cameras/yard/live-frag.m4s?{frags[0]}").status == 404
    assert u.get("/api/v1/cameras/gate/live-frag.m4s?run=x&seq=0&o=0").status == 400

    # One view-live record per opening of the master playlist (ffmpeg and ffprobe opened it
    # once each, this test twice), none per media playlist reload or fragment.
    recs = [a for a in audit_records(root)
            if a["action"] == "view-live" and a.get("detail") == "hls"]
    assert len(recs) == 4, recs
