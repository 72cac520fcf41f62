"""Issue 6, "residents: public cameras only": a resident's camera grid holds only the public
camera, and its live view plays; the timeline, the player and the officer's queue are not
available to a resident, whatever the URL says, and the server refuses the footage anyway.
"""
import json

import pytest

from uistack import browser_ready, node

pytestmark = pytest.mark.skipif(browser_ready() is not None, reason=str(browser_ready()))


def test_resident_sees_public_cameras_live_only(ui_stack, tmp_path):
    s = ui_stack
    resident = s.add_user("rosa", "resident")
    segs = s.wait_footage("square-1", 10)
    a, b = segs[0]["start_us"], segs[-1]["end_us"]
    urls = {"cameras": "#/cameras", "timeline": "#/camera/gate-3", "public-timeline": "#/camera/square-1",
            "play": f"#/play?c=square-1&from={a}&to={b}", "queue": "#/queue", "admin": "#/admin-cameras"}
    cfg = {"base": s.base, "user": s.cred(resident), "urls": list(urls.values())}
    (tmp_path / "urls.json").write_text(json.dumps(cfg))
    got = dict(zip(urls, node("ui-urls.mjs", tmp_path / "urls.json", tmp_path / "urls", timeout=300)))
    cams = got["cameras"]
    assert cams["tiles"] == ["square-1"], cams
    assert len(cams["videos"]) == 1 and cams["videos"][0]["played"], cams  # live view plays
    assert "/api/v1/cameras/square-1/live.mp4" in cams["videos"][0]["src"]
    for k in ("timeline", "public-timeline", "play", "queue", "admin"):
        assert got[k]["ready"] == "denied" and not got[k]["videos"] and got[k]["spans"] == 0, (k, got[k])
    res = s.login(resident)
    assert res.get("/api/v1/cameras").json()["cameras"] == [
        {"id": "square-1", "name": "Market square", "location": "Market square", "public": True,
         "area": None, "video_codec": "h264", "online": True}]
    assert res.get(f"/api/v1/cameras/square-1/video.mp4?from=@{a / 1e6}&to=@{b / 1e6}").status == 403
