"""Issue 2, acceptance 6: bad command lines.

Each bad command line exits 2 (bad usage) or 1 (failure) with exactly one line on stderr that
names the problem, and writes nothing: the index file is byte-for-byte unchanged and an
uninitialized data root is not created.
"""
import hashlib

import pytest

from conftest import CAMVAULT, cv

CASES = [
    # (arguments, exit status, text the one error line must contain)
    (["frobnicate"], 2, "unknown command 'frobnicate'"),
    (["camera"], 2, "expected add, list"),
    (["camera", "explode"], 2, "unknown subcommand 'explode'"),
    (["camera", "add", "x", "--url", "rtsp://h/x", "--bogus"], 2, "unknown option '--bogus'"),
    (["camera", "add", "x"], 2, "missing --url"),
    (["camera", "add", "x", "--url"], 2, "'--url' needs a value"),
    (["camera", "add", "bad/id", "--url", "rtsp://h/x"], 2, "bad camera id 'bad/id'"),
    (["camera", "add", "x", "--url", "http://h/x"], 2, "must start with rtsp://"),
    (["camera", "add", "x", "--url", "rtsp://h/x", "--retention-days", "-3"], 2,
     "bad --retention-days '-3'"),
    (["camera", "add", "x", "--url", "rtsp://h/x", "--transport", "sctp"], 2,
     "bad --transport 'sctp'"),
    (["camera", "add", "cam1", "--url", "rtsp://h/x"], 1, "camera 'cam1' already exists"),
    (["camera", "add", "x", "--url", "rtsp://h/x", "--volume", "nosuch"], 1,
     "unknown volume 'nosuch'"),
    (["camera", "show", "nosuch"], 1, "unknown camera 'nosuch'"),
    (["hold"], 2, "expected add, list or release"),
    (["volume", "list", "extra"], 2, "camvault volume list: unexpected argument 'extra'"),
    (["keys", "import"], 2, "expected --key KEY.pem --cert CERT.pem --chain"),
    (["keys", "rotate"], 2, "unknown subcommand 'rotate'"),
    (["camera", "disable", "nosuch"], 1, "unknown camera 'nosuch'"),
    (["camera", "list", "extra"], 2, "unexpected argument 'extra'"),
    (["query", "nosuch", "--from", "@0", "--to", "@10"], 1, "unknown camera 'nosuch'"),
    (["query", "cam1", "--from", "yesterday", "--to", "@10"], 2, "bad time 'yesterday'"),
    (["query", "cam1", "--from", "2026-11-22T09:30:00", "--to", "@10"], 2, "needs a zone"),
    (["query", "cam1", "--from", "2026-02-30T00:00:00Z", "--to", "@10"], 2, "out of range"),
    (["query", "cam1", "--from", "@20", "--to", "@10"], 2, "must be after --from"),
    (["query", "cam1", "--to", "@10"], 2, "missing --from"),
    (["record", "--segment-seconds", "0"], 2, "bad duration '0'"),
    (["record", "--log-level", "loud"], 2, "bad --log-level 'loud'"),
]


@pytest.fixture
def seeded(root):
    cv("camera", "add", "cam1", "--url", "rtsp://127.0.0.1:9/cam1", root=root)
    return root


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("args,status,text", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_command_line(seeded, args, status, text):
    before = digest(seeded / "index" / "data.mdb")
    r = cv(*args, root=seeded, check=False)
    assert r.returncode == status, r.stderr
    lines = r.stderr.strip().split("\n")
    assert len(lines) == 1 and text in lines[0], r.stderr
    assert lines[0].startswith("camvault"), lines
    assert r.stdout == ""
    assert digest(seeded / "index" / "data.mdb") == before


@pytest.mark.parametrize("args", [["camera", "list"], ["camera", "add", "a", "--url", "rtsp://h/"],
                                  ["query", "a", "--from", "@0", "--to", "@1"], ["record"]])
def test_uninitialized_root_is_not_created(tmp_path, args):
    missing = tmp_path / "nothing-here"
    r = cv(*args, root=missing, check=False)
    assert r.returncode == 1
    assert "is not initialized (run 'camvault init')" in r.stderr
    assert len(r.stderr.strip().split("\n")) == 1
    assert not missing.exists()


def test_root_from_environment(tmp_path, monkeypatch):
    import subprocess
    env_root = tmp_path / "envroot"
    env = {"CAMVAULT_ROOT": str(env_root), "PATH": "/usr/bin:/bin"}
    subprocess.run([str(CAMVAULT), "init"], env=env, check=True, capture_output=True)
    subprocess.run([str(CAMVAULT), "camera", "add", "e1", "--url", "rtsp://h/x"], env=env,
                   check=True, capture_output=True)
    assert "e1" in cv("camera", "list", root=env_root).stdout


def test_camera_fields_round_trip(root):
    cv("camera", "add", "gate-3", "--url", "rtsp://admin:pw@10.0.0.7/live", "--name",
       "North gate", "--location", "Building 12 alley", "--retention-days", "45", "--public",
       "--transport", "udp", root=root)
    import json
    c = json.loads(cv("camera", "show", "gate-3", "--json", root=root).stdout)
    assert c["name"] == "North gate" and c["location"] == "Building 12 alley"
    assert c["retention_days"] == 45 and c["public"] is True and c["transport"] == "udp"
    assert c["url"] == "rtsp://admin:***@10.0.0.7/live"  # never print camera passwords
    assert c["enabled"] is True and c["status"] is None
    cv("camera", "disable", "gate-3", root=root)
    assert json.loads(cv("camera", "show", "gate-3", "--json", root=root).stdout)["enabled"] is False
    text = cv("camera", "show", "gate-3", root=root).stdout
    assert "pw@" not in text and "North gate" in text


@pytest.mark.parametrize("command", ["serve", "record", "run"])
def test_unknown_conf_key_is_refused(root, command):
    """Issue 15: camvault.conf's unknown keys are errors for every command that reads it (serve
    used to accept any): one line naming the file, the line and the key; nothing starts."""
    (root / "camvault.conf").write_text("segment_seconds = 4\nsite_zone = Asia/Shanghai\n")
    extra = ["--listen", "127.0.0.1:1"] if command != "record" else []
    r = cv(command, *extra, root=root, check=False, timeout=30)
    lines = r.stderr.strip().split("\n")
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert "camvault.conf:2" in lines[0] and "unknown key 'site_zone'" in lines[0], lines
