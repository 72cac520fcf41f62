"""Issue 6, acceptance 2 and 3, in headless Chromium against the real server.

2. The player plays recorded footage (the video element's time advances) and the clock it shows
   is the footage's wall-clock time within one second: played from the start of a recorded
   segment (a keyframe, taken from `camvault query`), the clock must read that start plus the
   video's currentTime, in the site zone (Asia/Shanghai, +08:00) with UTC on hover; one frame
   forward moves it by one frame (40 ms at 25 fps). Clicking the timeline plays from there.
   An officer drags a range on the timeline, places a hold on it and exports it to a case: the
   progress bar shows, the package downloads and `camvault verify` passes on it.
3. A camera offline for 15 s shows that gap on its timeline, coloured as offline, and hovering
   it shows the reason (in English and in Chinese).
The outage of 3 happens while the browser does 2, on the UI tests' shared stack.
"""
import json
import threading
import time

import pytest

from conftest import cameras, cv, query, start_camsim, wait_for
from uistack import browser_ready, node, site_time

pytestmark = pytest.mark.skipif(browser_ready() is not None, reason=str(browser_ready()))


def online(root, cid):
    st = cameras(root)[cid]["status"]
    return st is not None and st["online"]


def test_player_clock_and_offline_gap(ui_stack, tmp_path, procs):
    s = ui_stack
    root = s.root
    flaky = start_camsim(procs, tmp_path, cameras=1, name="cam")
    cv("camera", "add", "flaky", "--url", f"rtsp://127.0.0.1:{flaky.port}/cam1", "--name", "Flaky",
       "--location", "Back door", root=root)
    try:
        # The camera `flaky` goes offline for 15 s while the browser plays gate-3's footage,
        # clicks its timeline and exports a selection, none of which needs the gap.
        outage = threading.Thread(target=go_offline_for_15_s, args=(root, flaky, tmp_path, procs))
        outage.error = None
        outage.start()
        try:
            segs = s.wait_footage("gate-3", 30)
            seg = segs[2]  # a segment in the middle: starts on a keyframe
            S = seg["start_us"]
            off = s.client("officer")
            case = off.post("/api/v1/cases", {"title": "Back door"}).json()["case"]["id"]
            cfg = {"base": s.base, "user": s.user("officer"),
                   "play": {"camera": "gate-3", "from": S, "to": S + 20_000_000},
                   "click": {"camera": "gate-3", "from": segs[0]["start_us"], "to": segs[-1]["end_us"], "at": segs[1]["start_us"] + 1_000_000},
                   "select": {"camera": "gate-3", "from": segs[0]["start_us"], "to": segs[-1]["end_us"],
                              "a": segs[1]["start_us"], "b": segs[-2]["end_us"], "case": case}}
            (tmp_path / "tl.json").write_text(json.dumps(cfg))
            res = {o["step"]: o for o in node("ui-timeline.mjs", tmp_path / "tl.json", tmp_path / "timeline", timeout=300)}
        finally:
            outage.join()
        assert not outage.error, outage.error
        wait_for(lambda: online(root, "flaky"), 20, what="flaky camera back online")
        gap = wait_for(lambda: next((g for g in query(root, "flaky")["gaps"] if g["reason"] == "camera-offline"), None),
                       30, what="the offline gap in the index")
        assert 14 <= (gap["end_us"] - gap["start_us"]) / 1e6 <= 25, gap
        gcfg = {"base": s.base, "user": s.user("officer"),
                "gap": {"camera": "flaky", "from": gap["start_us"] - 60_000_000, "to": gap["end_us"] + 60_000_000}}
        (tmp_path / "gap.json").write_text(json.dumps(gcfg))
        gres = {o["step"]: o for o in node("ui-timeline.mjs", tmp_path / "gap.json", tmp_path / "gap", timeout=300)}
    finally:
        cv("camera", "disable", "flaky", root=root, check=False)  # the shared stack goes on without it
    assert res["done"]["problems"] == [] and gres["done"]["problems"] == []

    # 3: the gap is drawn, coloured as offline, and its reason shows on hover
    g = gres["gap"]
    offline = [x for x in g["gaps"] if x["reason"] == "camera-offline"]
    assert len(offline) == 1 and offline[0]["w"] >= 3, g["gaps"]
    assert offline[0]["color"] == "rgb(217, 45, 32)", offline  # --offline
    assert g["tip_en"] and "Camera offline" in g["tip_en"], g
    assert f"127.0.0.1:{flaky.port}" in g["tip_en"]  # the recorder's detail
    assert g["tip_zh-CN"] and "摄像头离线" in g["tip_zh-CN"], g
    begin, _ = site_time(gap["start_us"])
    assert begin[11:19] in g["tip_en"], (begin, g["tip_en"])  # the gap's range, site time

    # 2: the video plays and the clock is the footage's wall-clock time
    p = res["play"]["played"]
    assert p["error"] is None and p["currentTime"] - p["start"] >= 1.0, p
    expected = S + p["currentTime"] * 1e6
    assert abs(p["clock_us"] - expected) < 1e6, (p, S)
    assert seg["start_us"] <= p["clock_us"] <= segs[-1]["end_us"]
    text, zone = site_time(p["clock_us"])
    assert p["clock"].startswith(text) and p["clock"].endswith("+08:00") and zone == "+0800", p
    assert p["utc"].endswith("UTC"), p
    st = res["play"]["stepped"]
    # One frame forward: the shown frame's clock moves by one frame (40 ms at 25 fps). The step
    # starts from the frame on screen, not from currentTime: paused, currentTime may already lie
    # up to a frame past the shown frame (CI saw 2.0418 with the frame of 2.000 on screen, and
    # the step to 2.041 was right), so the position only has to land within a frame of it.
    assert -0.04 < st["currentTime"] - p["currentTime"] <= 0.08, (p, st)
    assert 20_000 <= st["clock_us"] - p["clock_us"] <= 80_000, (p, st)

    c = res["click"]["played"]
    at = cfg["click"]["at"]
    assert c["error"] is None and c["currentTime"] - c["start"] >= 0.9, c
    # playing from the clicked instant: the first frame shown is at most a GOP (2 s) before it
    assert at - 2.1e6 <= c["clock_us"] - (c["currentTime"] - c["start"]) * 1e6 <= at + 1e6, (c, at)

    # the officer's range selection: a hold and an export with progress, downloaded and valid
    sel = res["select"]
    assert "Selected:" in sel["selText"] and sel["sawProgress"] == 1, sel
    holds = off.get(f"/api/v1/holds?case={case}").json()["holds"]
    assert len(holds) == 1 and holds[0]["cameras"] == ["gate-3"] and holds[0]["by"] == "olga", holds
    assert abs(holds[0]["from_us"] - cfg["select"]["a"]) < 2e6 and abs(holds[0]["to_us"] - cfg["select"]["b"]) < 2e6, holds
    r = cv("verify", sel["path"], check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def go_offline_for_15_s(root, flaky, tmp_path, procs):
    """Once `flaky` has recorded a segment, stop its camsim for 15 s and start it again on the
    same port. Runs in a thread; what went wrong is left in the thread's .error."""
    try:
        wait_for(lambda: online(root, "flaky"), 30, what="flaky camera online")
        wait_for(lambda: query(root, "flaky")["segments"], 30, what="a segment of the flaky camera")
        flaky.close()
        time.sleep(15)
        start_camsim(procs, tmp_path, cameras=1, name="cam", port=flaky.port)
    except BaseException as e:  # reported by the test
        threading.current_thread().error = e
