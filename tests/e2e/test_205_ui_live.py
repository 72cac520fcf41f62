"""Issue 12, acceptance 3: the cameras screen's live view in headless Chromium plays at the live
edge for 30 s without stalling; after 10 s as a background tab (video paused, CPU throttled 10x
through CDP) it is back within 1 s of the edge when played again (server/web/js/live.js).

The edge is the newest data the player holds: live.js reads live.mp4 through MSE as fast as it
comes, also while paused. With live.mp4 as a plain src (before), Chromium reads ~2 s ahead,
stops reading while paused and cannot seek in the stream: it stayed ~2.4 s behind what it had
and 10 s behind the camera.
"""
import json

import pytest

from uistack import browser_ready, node

pytestmark = pytest.mark.skipif(browser_ready() is not None, reason=str(browser_ready()))


def test_live_view_stays_at_the_edge(ui_stack, tmp_path):
    s = ui_stack
    s.wait_footage("gate-3", 5)
    cfg = {"base": s.base, "user": s.user("officer"), "camera": "gate-3", "play_s": 30,
           "throttle_s": 10, "after_s": 20, "rate": 10}
    (tmp_path / "live.json").write_text(json.dumps(cfg))
    r = node("ui-live.mjs", tmp_path / "live.json", timeout=180)[0]
    print(f"\nlive view: {r}")
    assert r["error"] is None, r
    assert r["stalls"] == 0, r
    assert r["play_lag_max"] < 3, r
    # Played again after the "background": back within 1 s of the edge (within the 20 s the
    # driver waits; back_after_s says how long it took).
    assert r["back_after_s"] is not None, r
    assert r["back_lag"] <= 1.0, r
