"""Camera passwords appear in no output (issue 19, finding 1).

One recorder, one server, six cameras whose credentials hold '@', ':', '/', '%' and '#', raw
and percent-encoded, or sit in the query string (?password=): a Digest login against
gst-rtsp-server with the password percent-encoded (the own RTSP client records it), the same
password raw over UDP transport (libavformat records it: it gets the URL written back with the
password percent-encoded), a camsim camera with a ?token= (also the recording `make sanitize`
runs under ASan/UBSan), and three cameras on a dead port whose offline reason carries the URL.
Every output is searched for every piece of every password: `camera list`, `camera list --json`,
`camera show --json`, a refused `camera add`, the recorder's log, the status reasons, the admin
API's and an officer's GET /api/v1/cameras, /metrics, and an export package's manifest.json and
other text files.
"""
import json
import re
import zipfile
from urllib.parse import quote

import pytest

from conftest import (cameras, cv, free_port, fresh_root, query, start_camsim, start_gst,
                      start_recorder, wait_for)
from httpapi import add_user, logged_in, start_server

# Each password is made of five-letter markers joined by the awkward characters; no marker may
# show up anywhere, so neither the whole password nor any piece of it leaks.
GOOD = "Qxwka@Zmvrt:Yplqb/Hjnsd%Fgtcw#Vbmzx"      # the gst camera's password
RAW = "Wqzlk@Rtmvx:Pyhgd/Jskqf%Nbzrw#Lxcvt"       # written raw into a URL
PCT = "Kvqzm@Xwtrl:Dfgsy/Mnbhq%Cvzpk#Trwqx"       # written percent-encoded into a URL
QUERY = "Zqxvm/Tkwrp#Hjgls"                       # in ?password=
MARKERS = re.findall(r"[A-Za-z]{5}", GOOD + RAW + PCT + QUERY)


def enc(s):
    return quote(s, safe="")


def leaks(text):
    """The password pieces found in text (an empty list when there are none)."""
    found = [m for m in MARKERS if m in text]
    found += [s for s in (GOOD, RAW, PCT, QUERY, enc(GOOD), enc(RAW), enc(PCT), enc(QUERY))
              if s in text]
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    with fresh_root(tmp_path_factory, "secrets") as (tmp, root, started):
        # One gst server per client: two clients preparing its shared media at once can stall
        # gst-rtsp-server on a loaded machine.
        gst = start_gst(started, tmp, path="/d",
                        extra=["--user", "cam", "--password", GOOD, "--auth", "digest"])
        gst2 = start_gst(started, tmp, path="/d",
                         extra=["--user", "cam", "--password", GOOD, "--auth", "digest"])
        sim = start_camsim(started, tmp, cameras=1, name="cam", extra=["--audio", "aac"])
        dead = free_port()
        host = "127.0.0.1"
        cams = {
            "sim": (f"rtsp://{host}:{sim.port}/cam1?token={enc(QUERY)}", "tcp"),
            "digest": (f"rtsp://cam:{enc(GOOD)}@{host}:{gst.port}/d", "tcp"),
            "libav": (f"rtsp://cam:{GOOD}@{host}:{gst2.port}/d", "udp"),
            "raw": (f"rtsp://cam:{RAW}@{host}:{dead}/x", "tcp"),
            "pct": (f"rtsp://cam:{enc(PCT)}@{host}:{dead}/x", "tcp"),
            "query": (f"rtsp://{host}:{dead}/x?user=cam&password={QUERY}&ch=1", "tcp"),
        }
        for cid, (url, transport) in cams.items():
            cv("camera", "add", cid, "--url", url, "--transport", transport, root=root)
        rec = start_recorder(started, root, tmp, segment=2)
        try:
            wait_for(lambda: all(c["status"] and c["status"]["online"]
                                 for k, c in cameras(root).items() if k in ("digest", "libav", "sim")),
                     90, what="both cameras of the gst server online")
        except AssertionError as e:
            raise AssertionError(f"{e}: {[(k, c['status']) for k, c in cameras(root).items()]}")
        wait_for(lambda: all(c["status"] and "127.0.0.1" in c["status"]["reason"]
                             for k, c in cameras(root).items() if k in ("raw", "pct", "query")),
                 60, what="the dead-port cameras offline, their reason naming the URL")
        wait_for(lambda: all(len(query(root, k)["segments"]) >= 3 for k in ("digest", "sim")), 60,
                 what="three segments of the Digest and the camsim camera")
        status = cameras(root)
        # The API while the recorder runs: the reasons still carry the URLs.
        srv = start_server(started, root, tmp)
        add_user(root, "ada", "admin")
        add_user(root, "olaf", "officer")
        api = {}
        for user in ("ada", "olaf"):
            r = logged_in(srv.port, user).get("/api/v1/cameras")
            assert r.status == 200, r
            api[user] = r.body.decode()
        r = logged_in(srv.port, "ada").raw("GET", "/metrics")
        assert r.status == 200, r
        metrics = r.body.decode()
        srv_rc = srv.close()
        rec_rc = rec.close()
        yield {"root": root, "tmp": tmp, "log": rec.logfile.read_text(), "status": status,
               "api": api, "metrics": metrics, "cams": cams, "rc": (rec_rc, srv_rc),
               "srv_log": (tmp / "serve.log").read_text()}


def test_recording_works_with_awkward_passwords(run):
    """The percent-encoded Digest password and the raw one through libavformat both log in."""
    for cid in ("digest", "libav", "sim"):
        st = run["status"][cid]["status"]
        assert st["online"] and st["frames"] > 0, (cid, st)
    assert len(query(run["root"], "libav")["segments"]) >= 1


def test_recorder_and_server_stop_cleanly(run):
    """Exit 0 on SIGTERM; under `make sanitize` (ASan/UBSan, halt_on_error) also: no finding."""
    for log in (run["log"], run["srv_log"]):
        assert "Sanitizer" not in log and "runtime error:" not in log, log[-3000:]
    assert run["rc"] == (0, 0), run["log"][-3000:]


def test_reasons_carry_the_url_without_password(run):
    for cid in ("raw", "pct", "query"):
        reason = run["status"][cid]["status"]["reason"]
        assert "***" in reason and not leaks(reason), (cid, reason)


def test_cli_shows_no_password(run):
    root = run["root"]
    outs = [cv("camera", "list", root=root), cv("camera", "list", "--json", root=root)]
    outs += [cv("camera", "show", cid, "--json", root=root) for cid in run["cams"]]
    outs += [cv("camera", "show", cid, root=root) for cid in run["cams"]]
    for r in outs:
        assert not leaks(r.stdout + r.stderr), (r.args, r.stdout, r.stderr)
    shown = {c["id"]: c["url"] for c in json.loads(outs[1].stdout)}
    port = shown["digest"].split("@127.0.0.1:")[1].split("/")[0]
    assert shown["digest"] == f"rtsp://cam:***@127.0.0.1:{port}/d"
    assert shown["raw"].startswith("rtsp://cam:***@127.0.0.1:") and shown["raw"].endswith("/x")
    assert shown["query"].endswith("/x?user=cam&password=***&ch=1")
    assert shown["sim"].endswith("/cam1?token=***")


def test_refused_url_shows_no_password(run):
    """A URL refused at `camera add` is named without its password."""
    for url, why in ((f"rtsp://localhost/x?password={QUERY}&mail=a@b", "%40"),
                     (f"rtsp://cam:{RAW}@127.0.0.1:99999/x", "bad port"),
                     (f"http://cam:{PCT}@127.0.0.1/x", "rtsp://")):
        r = cv("camera", "add", "bad", "--url", url, root=run["root"], check=False)
        assert r.returncode == 2 and why in r.stderr, r.stderr
        assert not leaks(r.stdout + r.stderr), r.stderr
    assert not leaks(r.stdout + r.stderr), r.stderr


def test_recorder_log_shows_no_password(run):
    assert "127.0.0.1" in run["log"]
    assert not leaks(run["log"]), leaks(run["log"])


def test_api_and_metrics_show_no_password(run):
    for user, body in run["api"].items():
        assert "127.0.0.1" in body, (user, body)  # the reasons (the admin: the URLs) are there
        assert not leaks(body), (user, body)
    admin = {c["id"]: c for c in json.loads(run["api"]["ada"])["cameras"]}
    assert admin["pct"]["url"].startswith("rtsp://cam:***@127.0.0.1:")
    assert not leaks(run["metrics"])


def test_export_manifest_shows_no_password(run):
    root, out = run["root"], run["tmp"] / "pkg.zip"
    segs = query(root, "digest")["segments"]
    cv("export", "--camera", "digest,raw,query", "--from", f"@{segs[0]['start_us'] / 1e6}",
       "--to", f"@{segs[-1]['end_us'] / 1e6}", "--case", "C-106", "--reason", "secrets",
       "--requester", "Officer Li", "--out", out, root=root)
    with zipfile.ZipFile(out) as z:
        texts = {n: z.read(n).decode("utf-8", "replace") for n in z.namelist()
                 if not n.endswith((".mp4", ".m4s", ".mkv", ".der", ".p7s", ".tsr"))}
    manifest = [n for n in texts if n.endswith("manifest.json")]
    assert manifest, list(texts)
    for name, text in texts.items():
        assert not leaks(text), (name, leaks(text))
