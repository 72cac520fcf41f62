"""Issue 13, acceptance 4: residents' reports, one-key help and the duty room's alerts.

A resident's help call on a camera reaches an officer's open alert stream (Server-Sent Events,
GET /api/v1/alerts/stream) within 2 s, with the resident and their household; the report holds
the camera's footage ±5 minutes around its time at once; the officer's acknowledgement and
answer show in the resident's GET of the report. Bad input gets a 4xx with one clear error.
A camera the recorder cannot reach raises a camera_offline alert (from the status the recorder
writes), once, also across a server restart.
"""
import base64
import http.client
import json
import threading
import time

import pytest

from conftest import cv, start_recorder, wait_for
from httpapi import add_user, audit_records, logged_in, refused, start_server

T_FMT = "%Y-%m-%dT%H:%M:%SZ"


class Stream:
    """An open GET /api/v1/alerts/stream as `client`'s user: a thread reads the events and
    notes when each arrived (time.monotonic())."""

    def __init__(self, client):
        self.conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=60)
        self.conn.request("GET", "/api/v1/alerts/stream", headers={"Cookie": f"cv_session={client.cookie}"})
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.read()
        assert self.resp.getheader("Content-Type").startswith("text/event-stream")
        self.events, self.comments = [], []
        self.ended = False
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        wait_for(lambda: self.comments, 10, what="the stream's first comment")

    def _read(self):
        ev = {}
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                with self.lock:
                    if line.startswith(":"):
                        self.comments.append(line)
                    elif line.startswith("event: "):
                        ev["event"] = line[7:]
                    elif line.startswith("data: "):
                        ev["data"] = json.loads(line[6:])
                    elif line.startswith("id: "):
                        ev["id"] = int(line[4:])
                    elif line == "" and ev:
                        ev["t"] = time.monotonic()
                        self.events.append(ev)
                        ev = {}
        except (OSError, ValueError):
            pass
        self.ended = True

    def wait(self, pred, timeout=10):
        found = []

        def seen():
            with self.lock:
                found[:] = [e for e in self.events if pred(e)]
            return found

        wait_for(seen, timeout, step=0.02, what="an alert event")
        return found[0]

    def close(self):
        self.conn.close()


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "root"
    cv("init", root=root)
    cv("camera", "add", "lane", "--url", "rtsp://127.0.0.1:9/lane", "--name", "Lane 5",
       "--location", "Building 12 lane", "--public", "--disabled", root=root)
    cv("camera", "add", "vault", "--url", "rtsp://127.0.0.1:9/vault", "--name", "Vault",
       "--disabled", root=root)
    for u, role in (("olga", "officer"), ("adam", "admin"), ("rita", "resident"),
                    ("ravi", "resident")):
        add_user(root, u, role)
    # The household: the account's address (and area, where it has one)
    address = "Building 12, unit 3, room 401"
    cv("user", "edit", "rita", "--address", address, root=root)
    procs = []
    srv = start_server(procs, root, tmp_path)
    users = {u: logged_in(srv.port, u) for u in ("olga", "adam", "rita", "ravi")}
    users["procs"] = procs
    try:
        yield root, users, address
    finally:
        for p in reversed(procs):
            p.close()


def test_help_call_reaches_the_duty_room(site):
    root, u, address = site
    olga, rita = u["olga"], u["rita"]
    stream, admin = Stream(olga), Stream(u["adam"])
    try:
        at = int(time.time()) - 60
        t0 = time.monotonic()
        r = rita.post("/api/v1/reports", {"kind": "help", "camera": "lane",
                                          "at": time.strftime(T_FMT, time.gmtime(at)),
                                          "text": "a man fell on the stairs"})
        assert r.status == 201, r
        rep = r.json()["report"]
        assert rep["status"] == "open" and rep["kind"] == "help" and rep["camera"] == "lane"
        ev = stream.wait(lambda e: e.get("event") == "alert" and
                         e["data"]["report"] == rep["id"])
        delay = ev["t"] - t0
        print(f"help call -> officer's alert stream: {delay * 1000:.0f} ms")
        assert delay < 2.0, f"the help call took {delay:.2f} s to reach the stream"
        al = ev["data"]
        assert al["kind"] == "help" and al["severity"] == "alarm" and al["camera"] == "lane"
        assert al["by"] == "rita" and "household" in al
        assert al["household"] == address
        assert al["text"] == "a man fell on the stairs" and al["acked"] is None

        # The provisional hold: lane, at ± 5 minutes, placed at once.
        holds = olga.get("/api/v1/holds?active=true").json()["holds"]
        mine = [h for h in holds if h["case"] == rep["id"]]
        assert len(mine) == 1, holds
        h = mine[0]
        assert h["cameras"] == ["lane"] and h["active"]
        assert h["from"] == time.strftime(T_FMT, time.gmtime(at - 300)).replace("Z", ".000000Z") \
            or h["from"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at - 300)))
        assert h["to"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at + 300)))

        # The officer acknowledges on the wall: the resident sees it, the stream tells the others.
        unacked = olga.get("/api/v1/alerts?unacked=1").json()["alerts"]
        assert [a["id"] for a in unacked] == [al["id"]]
        r = olga.post(f"/api/v1/alerts/{al['id']}/ack")
        assert r.status == 200, r
        assert r.json()["alert"]["acked_by"] == "olga"
        stream.wait(lambda e: e.get("event") == "ack" and e["data"]["id"] == al["id"])
        refused(olga.post(f"/api/v1/alerts/{al['id']}/ack"), 409, "already acknowledged", "olga")
        assert olga.get("/api/v1/alerts?unacked=1").json()["alerts"] == []
        seen = rita.get(f"/api/v1/reports/{rep['id']}").json()["report"]
        assert seen["status"] == "acknowledged" and seen["answer"] is None
        assert "hold" not in seen and "answered_by" not in seen  # residents see no more

        r = olga.patch(f"/api/v1/reports/{rep['id']}",
                       {"status": "answered", "answer": "Officer Li is on the way"})
        assert r.status == 200, r
        mine = rita.get("/api/v1/reports").json()["reports"]
        assert [(x["id"], x["status"], x["answer"]) for x in mine] == \
            [(rep["id"], "answered", "Officer Li is on the way")]
        assert u["ravi"].get("/api/v1/reports").json()["reports"] == []
        assert u["ravi"].get(f"/api/v1/reports/{rep['id']}").status == 404
        queue = u["adam"].get("/api/v1/reports?status=answered").json()["reports"]
        assert [x["id"] for x in queue] == [rep["id"]] and queue[0]["answered_by"] == "olga"
        assert olga.patch(f"/api/v1/reports/{rep['id']}", {"status": "closed"}).status == 200
        refused(olga.patch(f"/api/v1/reports/{rep['id']}", {"answer": "again"}), 409, "closed")
        assert admin.wait(lambda e: e["data"]["id"] == al["id"])  # admins get them too

        # Logging out ends an open stream at its next keep-alive (15 s).
        assert u["adam"].post("/api/v1/logout").status == 200
        wait_for(lambda: admin.ended, 30, what="the logged-out admin's stream to end")
        assert not stream.ended
    finally:
        stream.close()
        admin.close()
    acts = [(a["user"], a["action"]) for a in audit_records(root)]
    for want in (("rita", "report-file"), ("rita", "hold-add"), ("olga", "alert-ack"),
                 ("olga", "report-update")):
        assert want in acts, acts


def test_alerts_and_reports_follow_the_area(site):
    """Officers with an area get only the alerts and reports about it: on the stream, in the
    lists, and by id (404 as for what does not exist); a report on no camera belongs to the
    resident's area; an officer of the county above sees both towns."""
    root, u, address = site
    rita, ravi = u["rita"], u["ravi"]
    cv("area", "add", "county", "--name", "County", root=root)
    for town in ("town-a", "town-b"):
        cv("area", "add", town, "--name", town, "--parent", "county", root=root)
    cv("camera", "edit", "lane", "--area", "town-a", root=root)
    cv("user", "edit", "rita", "--area", "town-a", root=root)
    cv("user", "edit", "ravi", "--area", "town-b", root=root)
    for name, area in (("ada", "town-a"), ("bo", "town-b"), ("cy", "county")):
        add_user(root, name, "officer")
        cv("user", "edit", name, "--area", area, root=root)
    ada, bo, cy = (logged_in(rita.port, n) for n in ("ada", "bo", "cy"))
    sa, sb = Stream(ada), Stream(bo)
    try:
        ids = []
        for who, body in ((rita, {"kind": "help", "camera": "lane", "text": "fire in the lane"}),
                          (rita, {"kind": "clue", "text": "strangers at building 12"}),
                          (ravi, {"kind": "hazard", "text": "broken manhole cover"})):
            r = who.post("/api/v1/reports", body)
            assert r.status == 201, r
            ids.append(r.json()["report"]["id"])
        # events go out in order: once bo has the town-b report, he was passed the others
        sb.wait(lambda e: e.get("event") == "alert" and e["data"]["report"] == ids[2])
        sa.wait(lambda e: e.get("event") == "alert" and e["data"]["report"] == ids[1])
        got = lambda s: [e["data"]["report"] for e in s.events if e.get("event") == "alert"]  # noqa: E731
        assert got(sb) == [ids[2]] and got(sa) == ids[:2]
        help_alert = next(e["data"] for e in sa.events if e["data"]["report"] == ids[0])
        assert help_alert["household"] == f"{address} (town-a)"

        listed = lambda c, what: [x["report"] if what == "alerts" else x["id"]  # noqa: E731
                                  for x in c.get(f"/api/v1/{what}").json()[what]]
        assert sorted(listed(ada, "alerts")) == sorted(ids[:2])
        assert listed(bo, "alerts") == [ids[2]]
        assert sorted(listed(cy, "alerts")) == sorted(ids)
        assert sorted(listed(ada, "reports")) == sorted(ids[:2])
        assert listed(bo, "reports") == [ids[2]]
        refused(bo.get(f"/api/v1/reports/{ids[0]}"), 404, ids[0])
        refused(bo.post(f"/api/v1/alerts/{help_alert['id']}/ack"), 404, help_alert["id"])
        assert ada.post(f"/api/v1/alerts/{help_alert['id']}/ack").status == 200
    finally:
        sa.close()
        sb.close()


def test_reports_refuse_bad_input(site):
    root, u, _ = site
    olga, rita = u["olga"], u["rita"]
    post = lambda body: rita.post("/api/v1/reports", body)  # noqa: E731
    refused(post({"kind": "fire", "text": "x"}), 400, "'kind'", "clue, help or hazard", "'fire'")
    refused(post({"kind": "clue", "text": "x" * 3000}), 400, "'text'", "longer than 2047")
    refused(post({"kind": "clue"}), 400, "'text'")  # a clue says what
    refused(post({"kind": "hazard", "text": "x", "camera": "nope"}), 400, "unknown camera 'nope'")
    refused(post({"kind": "hazard", "text": "x", "camera": "vault"}), 400,
            "unknown camera 'vault'")  # not public: residents do not see it
    refused(post({"kind": "clue", "text": "x", "at": "2001-01-01T00:00:00Z"}), 400, "'at'",
            "7 days")
    refused(post({"kind": "clue", "text": "x", "colour": "red"}), 400, "colour")
    jpeg = b"\xff\xd8\xff\xe0" + bytes(45 * 1024)
    refused(post({"kind": "hazard", "text": "manhole", "photo": base64.b64encode(jpeg).decode()}),
            413, "'photo'", f"{len(jpeg)} bytes", "40 KB")
    refused(post({"kind": "hazard", "text": "manhole",
                  "photo": base64.b64encode(b"GIF89a" + bytes(100)).decode()}), 400, "'photo'",
            "JPEG or PNG")
    refused(post({"kind": "hazard", "text": "manhole", "photo": "abc"}), 400, "'photo'", "base64")
    assert olga.get("/api/v1/reports").json()["reports"] == []  # nothing refused was kept

    small = b"\xff\xd8\xff\xe0" + bytes(2000) + b"\xff\xd9"
    r = post({"kind": "hazard", "text": "broken manhole cover at the gate",
              "photo": "data:image/jpeg;base64," + base64.b64encode(small).decode()})
    assert r.status == 201, r
    rep = r.json()["report"]
    assert rep["photo"] is True and rep["camera"] is None
    got = rita.get(f"/api/v1/reports/{rep['id']}/photo")
    assert got.status == 200 and got.body == small and got.header("Content-Type") == "image/jpeg"
    assert u["ravi"].get(f"/api/v1/reports/{rep['id']}/photo").status == 404
    al = olga.get("/api/v1/alerts").json()["alerts"][0]
    assert al["kind"] == "hazard" and al["report"] == rep["id"]

    # Roles: residents neither acknowledge nor answer, officers file no reports.
    refused(rita.post(f"/api/v1/alerts/{al['id']}/ack"), 403, "resident")
    refused(rita.patch(f"/api/v1/reports/{rep['id']}", {"status": "closed"}), 403, "resident")
    refused(rita.get("/api/v1/alerts"), 403, "resident")
    assert rita.get("/api/v1/alerts/stream").status == 403
    refused(olga.post("/api/v1/reports", {"kind": "clue", "text": "x"}), 403, "officer")
    refused(olga.patch(f"/api/v1/reports/{rep['id']}", {"status": "open"}), 400, "'status'")
    refused(olga.patch(f"/api/v1/reports/{rep['id']}", {"status": "answered"}), 400, "'answer'")
    refused(olga.post("/api/v1/alerts/A-999/ack"), 404, "unknown alert 'A-999'")
    refused(olga.get("/api/v1/alerts?unacked=maybe"), 400, "'unacked'")


def test_camera_offline_is_an_alert_once(site, tmp_path):
    root, u, _ = site
    procs = u["procs"]
    cv("camera", "enable", "lane", root=root)  # rtsp://127.0.0.1:9: nothing listens

    def offline(c, cam):
        al = c.get("/api/v1/alerts").json()["alerts"]
        return [a for a in al if a["kind"] == "camera_offline" and a["camera"] == cam]

    start_recorder(procs, root, tmp_path, segment=2)
    got = wait_for(lambda: offline(u["olga"], "lane"), 30, what="a camera_offline alert for lane")
    assert len(got) == 1 and got[0]["severity"] == "alarm" and "Lane 5" in got[0]["text"]
    # A restarted server remembers what it alerted: no second alert for the same outage. When
    # its watcher has alerted vault going offline, it has also looked at lane.
    procs[0].close()
    srv = start_server(procs, root, tmp_path, name="serve2")
    olga = logged_in(srv.port, "olga")
    stream = Stream(olga)
    try:
        cv("camera", "enable", "vault", root=root)
        ev = stream.wait(lambda e: e["data"]["kind"] == "camera_offline", timeout=30)
        assert ev["data"]["camera"] == "vault"
        assert len(offline(olga, "lane")) == 1 and len(offline(olga, "vault")) == 1
    finally:
        stream.close()
