"""Issue 13, acceptance 2: picture health. Cameras served by gst-rtsp-server (peers/gst_rtsp.py)
with a black picture, a frozen one (the same raw frame encoded over and over), a moving one, and
one that is black at first and moves after a while: `camera show --json` and the API report
"black" and "frozen" within 60 s, the moving camera stays "ok" (never anything else in the
recorder's log), the black one that starts moving is "ok" again within 60 s, and a camera that
is not recording is "unknown"; /metrics flags the two problems and each is an alert. The black camera sends H.265, the
moving one is read over UDP by libavformat (Annex B), the others by the own client (H.264).
picture_check_s = 1 (camvault.conf) keeps the test short (~25 s).
"""
import json
import re
import subprocess
import time

from conftest import CAMVAULT, cv, start_gst, start_recorder, wait_for
from httpapi import add_user, logged_in, start_server

# gst_rtsp.py options, and camvault's for the camera: H.265 for one (its decoder), libavformat's
# input over UDP for another (Annex B packets), the own client with H.264 for the rest
CAMS = {"dark": (["--pattern", "black", "--codec", "h265"], []),
        "still": (["--pattern", "frozen"], []),
        "live": (["--pattern", "moving"], ["--transport", "udp"]),
        "wakes": (["--pattern", "black", "--then", "moving", "--after", "15"], [])}


def show(root, cam):
    return json.loads(cv("camera", "show", cam, "--json", root=root).stdout)


def utc(text):
    return time.mktime(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone


def picture_lines(log, cam):
    return re.findall(rf"camera '{cam}': picture (\w+) -> (\w+)", log.read_text())


def test_picture_health(root, procs, tmp_path):
    (root / "camvault.conf").write_text("picture_check_s = 1\n")
    for cam, (peer, opts) in CAMS.items():
        g = start_gst(procs, tmp_path, path=f"/{cam}", extra=["--gop", "25", *peer])
        cv("camera", "add", cam, "--url", g.url, *opts, root=root)
    t0 = time.time()
    rec = start_recorder(procs, root, tmp_path, segment=4)

    seen = {}

    def reported(cam, want):
        p = show(root, cam)["picture"]
        seen.setdefault(cam, set()).add(p)
        return p == want

    wait_for(lambda: reported("dark", "black"), 60, what="camera 'dark' reported black")
    wait_for(lambda: reported("still", "frozen"), 60, what="camera 'still' reported frozen")
    wait_for(lambda: reported("live", "ok"), 60, what="camera 'live' reported ok")
    dark = show(root, "dark")
    assert dark["status"]["online"] and dark["picture_since"].endswith("Z"), dark
    assert dark["video_codec"] == "hevc" and show(root, "live")["status"]["transport"] == "udp"
    assert t0 - 2 <= utc(dark["picture_since"]) <= time.time() + 2, dark
    assert "status:         online; picture black\n" in cv("camera", "show", "dark", root=root).stdout

    # the camera that starts moving after 15 s: black first (the log says so), then ok again
    wait_for(lambda: ("unknown", "black") in picture_lines(rec.logfile, "wakes"), 60,
             what="camera 'wakes' seen black")
    wait_for(lambda: reported("wakes", "ok"), 60, what="camera 'wakes' ok again")
    assert picture_lines(rec.logfile, "wakes")[-1] == ("black", "ok")
    assert utc(show(root, "wakes")["picture_since"]) >= t0 + 15 - 2

    # the moving picture never was anything but ok
    assert picture_lines(rec.logfile, "live") == [("unknown", "ok")], rec.logfile.read_text()
    assert seen["live"] <= {"unknown", "ok"}, seen

    # the API's camera objects carry the same fields
    add_user(root, "boss", "admin")
    srv = start_server(procs, root, tmp_path)
    c = logged_in(srv.port, "boss")
    listed = {o["id"]: o for o in c.get("/api/v1/cameras").json()["cameras"]}
    for cam in ("dark", "still", "live"):
        one = c.get(f"/api/v1/cameras/{cam}").json()["camera"]
        assert one["picture"] == listed[cam]["picture"], (one, listed[cam])
        assert one["picture_since"] == listed[cam]["picture_since"]
    assert listed["dark"]["picture"] == "black" and listed["still"]["picture"] == "frozen"
    metrics = c.get("/metrics").body
    metrics = metrics.decode() if isinstance(metrics, bytes) else metrics
    for cam, bad in (("dark", 1), ("still", 1), ("live", 0)):
        assert f'camvault_camera_picture_problem{{camera="{cam}"}} {bad}\n' in metrics, metrics

    # each problem is an alert for the duty room (the moving cameras raise none)
    def alerts():
        return {(a["camera"], a["kind"], a["severity"])
                for a in c.get("/api/v1/alerts").json()["alerts"] if a["kind"].startswith("picture")}
    want = {("dark", "picture_black", "alarm"), ("still", "picture_frozen", "alarm")}
    wait_for(lambda: alerts() >= want, 30, what="the picture alerts")
    assert alerts() == want, alerts()

    # not recording: unknown
    rec.close()
    for cam in CAMS:
        got = show(root, cam)
        assert got["picture"] == "unknown" and not got["status"]["online"], got


def test_picture_check_conf(root):
    (root / "camvault.conf").write_text("picture_check_s = 30\n")
    r = subprocess.run([str(CAMVAULT), "record", "--root", str(root)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0
    assert "picture_check_s '30'" in r.stderr and "0.5 to 15" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
