"""Issue 15, acceptance 4: the command line's JSON of cameras and holds is the API's, object for
object: `camera list|show --json`, `hold list --json` and the holds of `query --json` against
GET /api/v1/cameras, /api/v1/cameras/{id} and /api/v1/holds as an admin (the CLI sees what an
admin sees). Cameras on the default volume and on a second one, disabled, public, with a
password in the URL, and one that recorded (so it has a status); holds active, released and
expired.
"""
import json
import time

import pytest

from conftest import cv, fresh_root, start_camsim, start_recorder, wait_for
from httpapi import add_user, logged_in, start_server

NOW = int(time.time())


def cli_json(root, *args):
    return json.loads(cv(*args, "--json", root=root).stdout)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with fresh_root(tmp_path_factory, "cliapi") as (tmp, root, procs):
        (tmp / "disk2").mkdir()
        cv("volume", "add", "disk2", str(tmp / "disk2"), root=root)
        sim = start_camsim(procs, tmp, cameras=1, name="s")
        cv("camera", "add", "rec", "--url", f"rtsp://127.0.0.1:{sim.port}/s1", root=root)
        rec = start_recorder(procs, root, tmp, segment=2)
        wait_for(lambda: cli_json(root, "camera", "show", "rec")["status"] is not None, 60,
                 what="a status for camera 'rec'")
        rec.close()
        cv("camera", "add", "plain", "--url", "rtsp://127.0.0.1:9/p", root=root)
        cv("camera", "add", "onvol", "--url", "rtsp://127.0.0.1:9/v", "--volume", "disk2",
           "--name", 'Gate "2"', "--location", "Yard\nwest", "--retention-days", "7.5", root=root)
        cv("camera", "add", "off", "--url", "rtsp://127.0.0.1:9/o", "--disabled",
           "--transport", "udp", root=root)
        cv("camera", "add", "pub", "--url", "rtsp://127.0.0.1:9/q", "--public", root=root)
        cv("camera", "add", "pw", "--url", "rtsp://admin:s3cret@127.0.0.1:9/w", root=root)
        span = ["--from", f"@{NOW - 3600}", "--to", f"@{NOW - 60}"]
        cv("hold", "add", "--case", "K-1", "--camera", "rec,plain", *span, "--reason", "active",
           "--by", "olga", root=root)
        cv("hold", "add", "--case", "K-2", "--camera", "onvol", *span, "--until", f"@{NOW - 30}",
           "--reason", "expired", root=root)
        cv("hold", "add", "--case", "K-3", "--camera", "pub", *span, "--until",
           f"@{NOW + 86400}", "--reason", "to release", root=root)
        cv("hold", "release", "3", "--by", "ivan", root=root)
        add_user(root, "ada", "admin")
        srv = start_server(procs, root, tmp)
        yield root, logged_in(srv.port, "ada")


def api(client, path):
    r = client.get(path)
    assert r.status == 200, r
    return r.json()


def test_camera_list_is_the_api_list(world):
    root, admin = world
    cams = cli_json(root, "camera", "list")
    assert [c["id"] for c in cams] == ["off", "onvol", "plain", "pub", "pw", "rec"]
    assert cams == api(admin, "/api/v1/cameras")["cameras"]


@pytest.mark.parametrize("cam", ["rec", "plain", "onvol", "off", "pub", "pw"])
def test_camera_show_is_the_api_camera(world, cam):
    root, admin = world
    mine = cli_json(root, "camera", "show", cam)
    assert mine == api(admin, f"/api/v1/cameras/{cam}")["camera"]
    assert "s3cret" not in json.dumps(mine)


def test_the_cameras_differ_where_they_should(world):
    """The comparison is not of empty objects: the variants show in the fields."""
    root, _ = world
    c = {x["id"]: x for x in cli_json(root, "camera", "list")}
    assert c["onvol"]["volume"] == "disk2" and c["plain"]["volume"] == "main"
    assert c["onvol"]["name"] == 'Gate "2"' and c["onvol"]["retention_days"] == 7.5
    assert c["off"]["enabled"] is False and c["off"]["transport"] == "udp"
    assert c["pub"]["public"] is True and c["plain"]["public"] is False
    assert c["plain"]["status"] is None
    st = c["rec"]["status"]
    assert st["frames"] > 0 and st["last_frame_us"] > 0 and st["since"].endswith("Z")


def test_hold_list_is_the_api_list(world):
    root, admin = world
    holds = cli_json(root, "hold", "list")
    assert holds == api(admin, "/api/v1/holds")["holds"]
    by = {h["reason"]: h for h in holds}
    assert by["active"]["active"] is True and by["active"]["until"] is None
    assert by["expired"]["active"] is False and by["expired"]["until_us"] == (NOW - 30) * 10**6
    assert by["to release"]["released_by"] == "ivan" and by["to release"]["released"]


def test_query_holds_are_the_api_holds(world):
    root, admin = world
    q = cli_json(root, "query", "plain", "--from", f"@{NOW - 7200}", "--to", f"@{NOW}")
    api_holds = {h["id"]: h for h in api(admin, "/api/v1/holds")["holds"]}
    assert q["holds"] and all(h == api_holds[h["id"]] for h in q["holds"])
