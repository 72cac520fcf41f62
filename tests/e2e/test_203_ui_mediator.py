"""Issue 6, acceptance 6: a mediator cannot reach any camera or time outside their case by editing
the URL. Logged in as a mediator whose one case holds one clip of one camera, the browser opens,
as typed into the address bar: the clip's timeline (allowed: recordings shown), another camera,
the same camera an hour before the clip, a range wider than the clip, the player on another
camera and outside the clip, another case, and screens of other roles. Nothing outside the clip
is shown or played; the server answers 403 for the same requests made directly.
"""
import json

import pytest

from uistack import browser_ready, node

pytestmark = pytest.mark.skipif(browser_ready() is not None, reason=str(browser_ready()))


def test_mediator_cannot_leave_their_case(ui_stack, tmp_path):
    s = ui_stack
    mediator = s.add_user("max", "mediator")  # his one case is the one below
    segs = s.wait_footage("gate-3", 25)
    s.wait_footage("square-1", 25)
    a, b = segs[1]["start_us"], segs[-1]["end_us"]
    off = s.client("officer")
    mine = off.post("/api/v1/cases", {"title": "Parking quarrel", "members": [mediator]}).json()["case"]["id"]
    r = off.post(f"/api/v1/cases/{mine}/clips", {"camera": "gate-3", "from": f"@{a / 1e6}", "to": f"@{b / 1e6}"})
    assert r.status in (200, 201), r
    other = off.post("/api/v1/cases", {"title": "Someone else's case"}).json()["case"]["id"]
    r = off.post(f"/api/v1/cases/{other}/clips", {"camera": "square-1", "from": f"@{a / 1e6}", "to": f"@{b / 1e6}"})
    assert r.status in (200, 201), r

    hour = 3600_000_000
    urls = {
        "clip": "#/camera/gate-3",
        "other-camera": "#/camera/square-1",
        "other-camera-times": f"#/camera/square-1?from={a}&to={b}",
        "before": f"#/camera/gate-3?from={a - 2 * hour}&to={a - hour}",
        "wider": f"#/camera/gate-3?from={a - hour}&to={b + hour}",
        "play-other": f"#/play?c=square-1&from={a}&to={b}",
        "play-before": f"#/play?c=gate-3&from={a - hour}&to={a - hour + 60_000_000}",
        "play-clip": f"#/play?c=gate-3&from={a}&to={b}",
        "other-case": f"#/case/{other}",
        "admin": "#/admin-users",
        "queue": "#/queue",
        "live": "#/cameras",
    }
    cfg = {"base": s.base, "user": s.cred(mediator), "urls": list(urls.values())}
    (tmp_path / "urls.json").write_text(json.dumps(cfg))
    got = dict(zip(urls, node("ui-urls.mjs", tmp_path / "urls.json", tmp_path / "urls", timeout=300)))
    assert len(got) == len(urls), got

    assert got["clip"]["spans"] > 0 and not got["clip"]["denied"], got["clip"]
    for k in ("other-camera", "other-camera-times", "before", "other-case"):
        assert got[k]["denied"] and got[k]["spans"] == 0 and not got[k]["videos"], (k, got[k])
        assert "outside your cases" in got[k]["deniedText"] or "no such" in got[k]["deniedText"], (k, got[k])
    # a range wider than the clip is cut down to the clip
    w = got["wider"]
    assert not w["denied"] and w["spans"] > 0, w
    q = dict(x.split("=") for x in w["finalHash"].split("?")[1].split("&"))
    assert int(q["from"]) >= a and int(q["to"]) <= b, (w["finalHash"], a, b)
    for k in ("play-other", "play-before"):
        # the player asked the server, was refused, and never gave the video a source
        assert all(not v["played"] and v["readyState"] == 0 and not v["src"] for v in got[k]["videos"]), (k, got[k])
        assert "Not allowed" in got[k]["errorText"] and "outside your cases" in got[k]["errorText"], (k, got[k])
    assert got["play-clip"]["videos"] and got["play-clip"]["videos"][0]["played"], got["play-clip"]
    for k in ("admin", "queue", "live"):
        assert got[k]["ready"] == "denied" and not got[k]["videos"], (k, got[k])

    # the server says no to the same requests, whatever the UI does
    med = s.login(mediator)
    assert med.get(f"/api/v1/cameras/square-1/timeline?from=@{a / 1e6}&to=@{b / 1e6}").status == 403
    assert med.get(f"/api/v1/cameras/gate-3/timeline?from=@{(a - 2 * hour) / 1e6}&to=@{(a - hour) / 1e6}").status == 403
    assert med.get(f"/api/v1/cameras/square-1/video.mp4?from=@{a / 1e6}&to=@{b / 1e6}").status == 403
    assert med.get(f"/api/v1/cases/{other}").status in (403, 404)
