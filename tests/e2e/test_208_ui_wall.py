"""Issue 13, acceptance 4 (the UI): the duty-room wall in headless Chromium, in English and in
Chinese. An officer's wall plays 9 live tiles (the stack's three cameras, three times each) with
the alert stream connected; a resident presses the big help button on the cameras screen and
calls about a public camera; the wall pops the alert up with a beep and switches its first tile
to that camera; the officer acknowledges it, the popup goes, and the resident's "My reports"
shows the report acknowledged (it looks again every 10 s). In Chinese no English is left on the
wall. The wall's first fragment requests fail (a dropped connection): each tile they belonged to
says why, waits and joins again at the newest fragment (live.js, playLiveHls), so all 9 play. (test_200 looks at each new screen at phone and desktop width.)
"""
import json

import pytest

from uistack import browser_ready, node

pytestmark = pytest.mark.skipif(browser_ready() is not None, reason=str(browser_ready()))

CAMS = ["gate-3", "square-1", "alley-12"]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_wall_alert_popup_and_ack(ui_stack, tmp_path, lang):
    s = ui_stack
    for c in CAMS:
        s.wait_footage(c, 5)
    # The stack is shared: an alarm an earlier test left unacknowledged (test_202's camera that
    # goes offline and is then disabled) would pop up at once and rightly switch the first tile to
    # that camera, offline. This test is about a help call arriving: the duty room starts clear.
    off = s.client("officer")
    for al in off.get("/api/v1/alerts?unacked=1&limit=50").json()["alerts"]:
        assert off.post(f"/api/v1/alerts/{al['id']}/ack", {}).status in (200, 409), al
    resident = s.add_user(f"wall-res-{lang.lower()}", "resident")
    cfg = {"base": s.base, "officer": s.user("officer"), "resident": s.cred(resident), "lang": lang,
           "hash": "#/wall?layout=9&c=" + ",".join(CAMS * 3), "camera": "square-1", "tiles": 9,
           "fail_frags": 3}
    (tmp_path / "wall.json").write_text(json.dumps(cfg))
    r = node("ui-wall.mjs", tmp_path / "wall.json", timeout=240)[0]
    print(f"\nwall ({lang}): {json.dumps({k: r[k] for k in ('tiles', 'playing', 'popup_ms', 'beeps', 'resident_status')})}")
    assert r["errors"] == [], r
    assert r["failed"] == 3, r  # the requests did fail: the tiles recovered from it
    assert r["tiles"] == 9 and r["playing"] == 9, r
    assert r["tile0"] == "square-1" and r["beeps"] >= 1, r
    assert resident in r["popup_text"] and "help test" in r["popup_text"], r
    assert r["resident_status"] == "acknowledged", r
    assert r["english"] == [], r
    assert r["overflow"]["scrollWidth"] <= r["overflow"]["width"], r


def test_report_form_and_answer(ui_stack, tmp_path):
    """A resident reports a hazard on a camera with a large photo through the form (the page
    shrinks the photo below the server's 40 KB); an officer answers it from the queue; the
    resident's "My reports" shows the answer."""
    s = ui_stack
    resident = s.add_user("report-res", "resident")
    cfg = {"base": s.base, "officer": s.user("officer"), "resident": s.cred(resident), "lang": "zh-CN",
           "camera": "square-1", "text": "井盖破损"}
    (tmp_path / "rep.json").write_text(json.dumps(cfg))
    r = node("ui-reports.mjs", tmp_path / "rep.json", timeout=120)[0]
    print(f"\nreport form: {r}")
    assert r["errors"] == [], r
    assert 1000 < r["photo_bytes"] <= 40 * 1024, r
    assert "cover is fixed tomorrow" in r["answer"], r
    off = s.client("officer")
    rep = off.get(f"/api/v1/reports/{r['id']}").json()["report"]
    assert rep["camera"] == "square-1" and rep["kind"] == "hazard" and rep["text"] == "井盖破损", rep
    assert rep["status"] == "answered" and rep["hold"] is not None
