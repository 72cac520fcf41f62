"""Issue 13, the online rate's page (views/online.js) in headless Chromium, in English and in
Chinese. A county with two towns, a camera in each; the east town's camera is offline for a
known time (its camera simulator stopped and started again, as test_130::test_online_rate), then
both cameras are disabled, so the report no longer changes with the clock. An officer of the
county opens #/online (the last 7 of the site's days): each area's share (rolled up: the county
has both cameras) and each camera's share match the API's for the same window within 0.1 %,
the east camera's outage shows as "camera offline", the chart has one series per area with the
93 % target line, the CSV link downloads the API's CSV, and picking an area narrows the page to
it. In Chinese no English is left. (test_200 looks at the screen at phone and desktop width.)
"""
import csv
import io
import json
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from conftest import cv
from httpapi import add_user, logged_in
from outage import one_camera_down
from uistack import PW, browser_ready, node, start_serve

pytestmark = pytest.mark.skipif(browser_ready() is not None, reason=str(browser_ready()))

AREAS = {"county": ("Qinghe County", ""), "east": ("East town", "county"), "west": ("West town", "county")}


def pct(text):
    """'97.31 %' -> 0.9731 (what the page shows)."""
    return float(text.replace("%", "").strip()) / 100


def test_online_page(root, tmp_path, procs):
    t_start = time.time()
    for aid, (name, parent) in AREAS.items():
        cv("area", "add", aid, "--name", name, *(["--parent", parent] if parent else []), root=root)
    one_camera_down(procs, root, tmp_path, ("east-gate", "east"), ("west-square", "west"))
    for cid in ("east-gate", "west-square"):  # enabled time ends: the report stays put
        cv("camera", "disable", cid, root=root)

    add_user(root, "olga-county", "officer", PW)
    cv("user", "edit", "olga-county", "--area", "county", root=root)
    srv = start_serve(procs, root, tmp_path)
    print(f"\nthe site with its outage: {time.time() - t_start:.1f} s")
    cfg = {"base": srv.base, "user": ["olga-county", PW], "langs": ["en", "zh-CN"], "pick": "east",
           "shots": str(tmp_path)}
    (tmp_path / "online.json").write_text(json.dumps(cfg))
    t0 = time.time()
    runs = node("ui-online.mjs", tmp_path / "online.json", timeout=120)
    print(f"browser: {time.time() - t0:.1f} s")
    assert [r["lang"] for r in runs] == ["en", "zh-CN"], runs

    off = logged_in(srv.port, "olga-county", PW)
    bad = off.get("/api/v1/reports/online?from=@0&to=@86400&by=week")
    assert bad.status == 400 and "query parameter 'by': expected day" in bad.json()["error"], bad
    for r in runs:
        where = r["lang"]
        assert r["errors"] == [], (where, r["errors"])
        # The API for the page's own window (the CSV link's query, as JSON).
        url = urlsplit(r["csv_href"])
        q = dict(parse_qsl(url.query))
        assert url.path == "/api/v1/reports/online" and q["format"] == "csv" and q["by"] == "day", r["csv_href"]
        api = off.get(url.path + "?" + urlencode({k: v for k, v in q.items() if k != "format"})).json()
        want_areas = {a["id"]: a for a in api["areas"]}
        want_cams = {c["id"]: c for c in api["cameras"]}
        print(f"{where}: page {r['areas']} {r['cameras']}; api "
              f"{ {k: round(v['online_rate'], 4) for k, v in {**want_areas, **want_cams}.items()} }")
        assert set(r["areas"]) == set(AREAS) and set(r["cameras"]) == {"east-gate", "west-square"}, r
        for aid, text in r["areas"].items():
            assert abs(pct(text) - want_areas[aid]["online_rate"]) <= 0.001, (where, aid, text, want_areas[aid])
        for cid, text in r["cameras"].items():
            assert abs(pct(text) - want_cams[cid]["online_rate"]) <= 0.001, (where, cid, text, want_cams[cid])
        # Rolled up: the county has both cameras; the east camera's outage shows by its reason.
        east, west = want_cams["east-gate"], want_cams["west-square"]
        assert want_areas["county"]["cameras"] == 2
        assert want_areas["county"]["online_rate"] == pytest.approx(
            (east["recorded_seconds"] + west["recorded_seconds"]) / (east["enabled_seconds"] + west["enabled_seconds"]), abs=1e-4)
        assert east["outage_seconds"]["camera-offline"] > 4, east
        assert pct(r["areas"]["east"]) < pct(r["areas"]["west"]), r["areas"]
        offline = "Camera offline" if where == "en" else "摄像头离线"
        assert offline in r["outages"]["east-gate"] and offline not in r["outages"]["west-square"], r["outages"]
        # The chart: one series per area, a point on each day with enabled time, the target line.
        assert sorted(r["series"]) == sorted(AREAS) and r["legend"] == 3 and r["target"], r
        days = {a: sum(1 for d in want_areas[a]["days"] if d["online_rate"] is not None) for a in AREAS}
        assert r["points"] == days and days["county"] >= 1, (r["points"], days)
        assert len(want_areas["county"]["days"]) == 7, want_areas["county"]["days"]
        # The CSV the link downloads is the API's, with the page's figures.
        assert r["csv_name"] == "online-rate.csv", r["csv_name"]
        assert r["csv"] == off.get(r["csv_href"]).body.decode(), r["csv"][:400]
        lines = list(csv.DictReader(io.StringIO(r["csv"])))
        whole = {x["id"]: x for x in lines if x["kind"] in ("area", "camera") and not x["date"]}
        for aid, text in {**r["areas"], **r["cameras"]}.items():
            assert abs(float(whole[aid]["online_rate"]) - pct(text)) <= 0.001, (aid, whole[aid], text)
        # Picking an area narrows the page and the CSV to it.
        assert set(r["picked"]["areas"]) == {"east"} and set(r["picked"]["cameras"]) == {"east-gate"}, r["picked"]
        assert "area=east" in r["picked"]["csv_href"], r["picked"]
        assert r["english"] == [], (where, r["english"])
        assert r["overflow"]["scrollWidth"] <= r["overflow"]["width"], r["overflow"]
