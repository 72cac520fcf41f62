"""Issue 6, acceptance 1, in headless Chromium against the real server: a resident logs in, files
a footage request and sees it pending; an officer sees it in the review queue, previews the
requested range (the video plays) and approves it; the resident downloads the package from the
browser and `camvault verify` passes on it.
"""
import json
import math

import pytest

from conftest import cv
from uistack import Stack, browser_ready, node, site_time

pytestmark = pytest.mark.skipif(browser_ready() is not None, reason=str(browser_ready()))


def local_minute(us):
    d, _ = site_time(us)
    return d[:16].replace(" ", "T")


def test_request_approve_download_verify(root, tmp_path, procs):
    s = Stack(procs, root, tmp_path)
    # a whole site-local minute of footage of the public camera
    segs = s.wait_footage("square-1", 5)
    start = math.ceil(segs[0]["start_us"] / 60e6) * 60_000_000
    s.wait_footage("square-1", (start + 62e6 - segs[0]["start_us"]) / 1e6)
    cfg = {"base": s.base, "resident": s.user("resident"), "officer": s.user("officer"), "camera": "square-1",
           "from": local_minute(start), "to": local_minute(start + 60_000_000),
           "description": "My e-bike was stolen from the rack by the square"}
    (tmp_path / "flow.json").write_text(json.dumps(cfg))
    out = tmp_path / "flow"
    steps = {o["step"]: o for o in node("ui-request-flow.mjs", tmp_path / "flow.json", out, timeout=400)}

    filed = steps["filed"]["requests"]
    assert len(filed) == 1 and filed[0]["status"] == "pending", filed
    assert "My e-bike was stolen" in filed[0]["text"] and "Waiting for review" in filed[0]["text"]
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
    # the package covers the camera and the window the resident asked for
    req = s.client("officer").get("/api/v1/requests").json()["requests"][0]
    assert req["camera"] == "square-1" and req["from_us"] == start and req["to_us"] == start + 60_000_000
    assert req["by"] == "ray" and req["status"] == "approved"
