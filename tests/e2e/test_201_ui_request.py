"""Issue 6, acceptance 1, in headless Chromium against the real server: a resident logs in, files
a footage request and sees it pending; an officer sees it in the review queue, previews the
requested range (the video plays) and approves it; the resident downloads the package from the
browser and `camvault verify` passes on it.

The request is for ten seconds of recorded footage, typed to the second (HH:MM:SS).
"""
import json
import math

import pytest

from conftest import cv
from uistack import browser_ready, node, site_time

pytestmark = pytest.mark.skipif(browser_ready() is not None, reason=str(browser_ready()))

WINDOW_US = 10_000_000


def local_second(us):
    d, _ = site_time(us)
    return d.replace(" ", "T")


def test_request_approve_download_verify(ui_stack, tmp_path):
    s = ui_stack
    resident = s.add_user("rita", "resident")  # her requests are the only ones she sees
    # ten whole site-local seconds of recorded footage of the public camera
    segs = s.wait_footage("square-1", WINDOW_US / 1e6 + 2)
    start = math.ceil(segs[0]["start_us"] / 1e6) * 1_000_000
    assert start + WINDOW_US <= segs[-1]["end_us"], segs
    cfg = {"base": s.base, "resident": s.cred(resident), "officer": s.user("officer"), "camera": "square-1",
           "from": local_second(start), "to": local_second(start + WINDOW_US),
           "description": "My e-bike was stolen from the rack by the square"}
    (tmp_path / "flow.json").write_text(json.dumps(cfg))
    out = tmp_path / "flow"
    steps = {o["step"]: o for o in node("ui-request-flow.mjs", tmp_path / "flow.json", out, timeout=400)}

    filed = steps["filed"]["requests"]
    assert len(filed) == 1 and filed[0]["status"] == "pending", filed
    assert "My e-bike was stolen" in filed[0]["text"] and "Waiting for review" in filed[0]["text"]
    assert steps["preview"]["id"] == filed[0]["id"], steps["preview"]  # the officer took hers
    pv = steps["preview"]["preview"]
    assert pv["error"] is None and pv["readyState"] >= 1 and pv["advanced"] >= 0.5, pv
    assert steps["approved"]["status"] == "approved"
    got = steps["downloaded"]
    assert got["status"] == "approved" and got["rejectedReason"] == 0
    assert "sha256sum -c SHA256SUMS" in got["howto"] and "camvault verify" in got["howto"]
    assert got["name"].endswith(".zip"), got
    assert steps["done"]["problems"] == []

    r = cv("verify", got["path"], "--json", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # the package covers the camera and the window the resident asked for, to the second
    req = next(q for q in s.client("officer").get("/api/v1/requests").json()["requests"] if q["id"] == filed[0]["id"])
    assert req["camera"] == "square-1" and req["from_us"] == start and req["to_us"] == start + WINDOW_US
    assert req["by"] == resident and req["status"] == "approved"
