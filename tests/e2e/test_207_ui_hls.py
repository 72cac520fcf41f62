"""Issue 12, acceptance 4 (Chromium half): headless Chromium plays live.m3u8. Chromium has no
native HLS, so the page uses hls.js (tests/browser/ui-hls.mjs: the page runs under the server's
origin with the officer's session cookie); 10 s of playback without a fatal player error, the
fragments fetched with the cookie like the UI's requests. (ffmpeg: test_26_hls.py.)
"""
import json

import pytest

from uistack import browser_ready, node

pytestmark = pytest.mark.skipif(browser_ready() is not None, reason=str(browser_ready()))


def test_chromium_plays_hls(ui_stack, tmp_path):
    s = ui_stack
    s.wait_footage("gate-3", 5)
    cfg = {"base": s.base, "user": s.user("officer"), "camera": "gate-3", "play_s": 10}
    (tmp_path / "hls.json").write_text(json.dumps(cfg))
    r = node("ui-hls.mjs", tmp_path / "hls.json", timeout=180)[0]
    print(f"\nChromium + hls.js: {r}")
    assert r["error"] is None, r
    assert not [e for e in r["hls_errors"] if "fatal" in e], r
    assert r["fragments"] >= 3 and r["played_s"] >= 10, r
