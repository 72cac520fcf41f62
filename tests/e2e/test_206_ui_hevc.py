"""Issue 18, acceptance 3: headless Chromium without HEVC plays an H.265 camera's recorded video
(video.mp4) and its live view in the web UI through the server's H.264 rendition, and the UI
says which rendition is shown (in English and in Chinese).

The stack: one H.265 camera (camsim) recorded in 3-s segments, `camvault serve`, an officer.
The browser must be one that does not decode HEVC (else there is nothing to show: skipped).
"""
import http.client
import json

import pytest

from conftest import cv, query, start_camsim, start_recorder, wait_for
from httpapi import add_user, logged_in
from uistack import PW, browser_ready, node, start_serve

pytestmark = pytest.mark.skipif(browser_ready() is not None, reason=str(browser_ready()))


def test_h265_plays_through_the_rendition(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam", extra=["--codec", "h265"])
    cv("camera", "add", "h265cam", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", "--name", "H.265 gate",
       "--public", root=root)
    start_recorder(procs, root, tmp_path, segment=3)
    srv = start_serve(procs, root, tmp_path)
    add_user(root, "olga", "officer", PW)
    segs = wait_for(lambda: (lambda s: s if len(s) >= 3 else None)(query(root, "h265cam")["segments"]),
                    90, what="three segments")
    cfg = {"base": srv.base, "user": ["olga", PW], "camera": "h265cam",
           "from": segs[0]["start_us"], "to": segs[-1]["end_us"]}
    (tmp_path / "hevc.json").write_text(json.dumps(cfg))
    res = {o["step"]: o for o in node("ui-hevc.mjs", tmp_path / "hevc.json", tmp_path / "shots", timeout=400)}

    probe = res["probe"]
    if probe["canPlayType"] != "" or probe["isTypeSupported"]:
        pytest.skip(f"this Chromium decodes HEVC ({probe}): the H.264 rendition is not used")
    assert probe["canPlayType"] == "" and probe["isTypeSupported"] is False, probe

    play, live = res["play"], res["live"]
    assert not play["problems"], play["problems"]
    for what, r in (("player", play), ("live view", live)):
        assert "rendition=h264" in r["src"], (what, r)
        assert r["error"] is None, (what, r)
        assert r["width"] > 0 and r["height"] > 0, (what, r)
        assert r["currentTime"] - r["start"] >= 1.5, (what, r)
        assert r["label_en"] == "H.264 rendition (server transcoded)", (what, r)
        assert r["label_zh"] == "H.264 转码版（服务器转码）", (what, r)
    views = [a for a in json.loads(cv("audit", "--json", root=root).stdout)
             if (a.get("detail") or "").startswith("rendition h264")]
    assert {a["action"] for a in views} == {"view-video", "view-live"}, views

    # Every transcoding session taken (2, the default): the player says so with the server's
    # message instead of staying blank.
    cookie = logged_in(srv.port, "olga", PW).cookie
    held = []
    try:
        for _ in range(2):
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
            c.request("GET", "/api/v1/cameras/h265cam/live.mp4?rendition=h264",
                      headers={"Cookie": f"cv_session={cookie}"})
            r = c.getresponse()
            assert r.status == 200, r.status
            held.append((c, r))  # both kept: a response collected would close the stream
        (tmp_path / "busy.json").write_text(json.dumps({**cfg, "busy": True}))
        busy = {o["step"]: o for o in node("ui-hevc.mjs", tmp_path / "busy.json", tmp_path / "shots", timeout=200)}["busy"]
    finally:
        for c, r in held:
            c.close()
    assert busy["label"] == "H.264 rendition (server transcoded)", busy
    assert busy["status"].startswith("This browser cannot play H.265 and the server's H.264 transcoding is busy: "
                                     "H.264 rendition: all 2 transcoding sessions of this server are in use"), busy
