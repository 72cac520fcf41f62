"""The recorder's own RTSP client against a foreign server, and its fallback to libavformat.

One recorder, six cameras, 12 s: gst-rtsp-server asking for Digest and for Basic credentials
(recorded by the own client, audio included), the same Digest server with a wrong password and
with none (offline, saying which), an H.264 stream with B-frames (whose decode order RTP does not
carry: the own client rebuilds it and records it in one run) and a camsim camera set to UDP
transport (libavformat). Passwords never appear in logs or reasons.
"""
import re
import time

import pytest

from conftest import (cameras, cv, decode_errors, fresh_root, probe_streams, query, start_camsim,
                      start_gst, start_recorder, wait_for)

SECRET = "s3cret-pw"
RECORD_S = 12


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    with fresh_root(tmp_path_factory, "rtspclient") as (tmp, root, started):
        dig = start_gst(started, tmp, path="/d", audio="aac",
                        extra=["--user", "cam", "--password", SECRET, "--auth", "digest"])
        bas = start_gst(started, tmp, path="/b",
                        extra=["--user", "cam", "--password", SECRET, "--auth", "basic"])
        bfr = start_gst(started, tmp, path="/bf", extra=["--bframes", "2"])
        sim = start_camsim(started, tmp, cameras=1, name="cam")
        host = "127.0.0.1"
        cams = {
            "digest": f"rtsp://cam:{SECRET}@{host}:{dig.port}/d",
            "basic": f"rtsp://cam:{SECRET}@{host}:{bas.port}/b",
            "wrong-password": f"rtsp://cam:not-{SECRET}@{host}:{dig.port}/d",
            "no-password": f"rtsp://{host}:{dig.port}/d",
            "bframes": f"rtsp://{host}:{bfr.port}/bf",
        }
        for cid, url in cams.items():
            cv("camera", "add", cid, "--url", url, root=root)
        cv("camera", "add", "udp", "--url", f"rtsp://{host}:{sim.port}/cam1", "--transport",
           "udp", root=root)
        recorder = start_recorder(started, root, tmp, segment=4)
        wait_for(lambda: all(c["status"] and c["status"]["online"] for k, c in cameras(root).items()
                             if k in ("digest", "basic", "bframes", "udp")), 30,
                 what="the four good cameras online")
        wait_for(lambda: all(c["status"] and "401" in c["status"]["reason"]
                             for k, c in cameras(root).items()
                             if k in ("wrong-password", "no-password")), 30,
                 what="both refused cameras offline with a reason")
        time.sleep(RECORD_S)
        status = cameras(root)
        recorder.close()
        yield {"root": root, "log": recorder.logfile.read_text(), "status": status}


def segments(rec, cid):
    return query(rec["root"], cid)["segments"]


@pytest.mark.parametrize("cid", ["digest", "basic"])
def test_authenticated_cameras_are_recorded_by_the_own_client(rec, cid):
    segs = segments(rec, cid)
    assert sum(s["frames"] for s in segs) >= 25 * (RECORD_S - 2), segs
    for s in segs:
        assert decode_errors(rec["root"] / s["path"]) == "", s["path"]
    assert f"camera '{cid}': recording" in rec["log"]
    assert not re.search(rf"camera '{cid}'.*libavformat", rec["log"]), rec["log"]


def test_digest_camera_keeps_its_audio(rec):
    s = segments(rec, "digest")[1]
    streams = probe_streams(rec["root"] / s["path"])
    kinds = {st["codec_type"]: st["codec_name"] for st in streams}
    assert kinds == {"video": "h264", "audio": "aac"}, streams


def test_refused_cameras_say_why(rec):
    st = rec["status"]
    assert "wrong user or password" in st["wrong-password"]["status"]["reason"], st
    assert "needs a user and password" in st["no-password"]["status"]["reason"], st
    assert segments(rec, "wrong-password") == [] and segments(rec, "no-password") == []


def test_passwords_never_appear(rec):
    assert SECRET not in rec["log"]
    assert all(SECRET not in (c["status"] or {}).get("reason", "") for c in rec["status"].values())


def test_bframes_are_recorded_by_the_own_client(rec):
    # issue 18: decode times are rebuilt from RTP's presentation times; no fallback, one run
    log = rec["log"]
    assert not re.search(r"camera 'bframes': .*libavformat", log), log
    segs = segments(rec, "bframes")
    assert sum(s["frames"] for s in segs) >= 25 * (RECORD_S - 4), segs
    assert len({s["run_id"] for s in segs}) == 1, segs
    for s in segs:
        assert decode_errors(rec["root"] / s["path"]) == "", s["path"]


def test_udp_camera_is_recorded_by_libavformat(rec):
    segs = segments(rec, "udp")
    assert sum(s["frames"] for s in segs) >= 25 * (RECORD_S - 2), segs
