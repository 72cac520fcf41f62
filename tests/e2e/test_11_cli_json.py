"""Issue 11, finding 9 (part): the command line's --json output is JSON whatever the text in it.

Names, locations, hold reasons and certificate subjects may hold '"', '\\', newlines and
non-ASCII; every --json listing must parse with Python's json module and give the text back
unchanged. And the C unit-test runner must not run nothing and call it success: --help prints
its usage, an unknown option or a name that matches no test exits 2, several names run their
tests.
"""
import json
import subprocess

from conftest import REPO, cv
from test_93_keys_import import agency_ca, openssl

WEIRD = 'Gate "7" \\ east\nsecond line, café 門'


def parse(r):
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        raise AssertionError(f"not JSON ({e}): {r.stdout!r}")


def test_json_listings_escape_every_string(root, tmp_path):
    cv("camera", "add", "c1", "--url", "rtsp://127.0.0.1:9/x", "--name", WEIRD, "--location",
       WEIRD, root=root)
    cv("hold", "add", "--case", "K-11", "--camera", "c1", "--from", "@1", "--to", "@2",
       "--reason", WEIRD, root=root)
    cams = parse(cv("camera", "list", "--json", root=root))
    assert cams[0]["name"] == WEIRD and cams[0]["location"] == WEIRD
    show = parse(cv("camera", "show", "c1", "--json", root=root))
    assert show["name"] == WEIRD and show["location"] == WEIRD
    holds = parse(cv("hold", "list", "--json", root=root))
    assert holds[0]["reason"] == WEIRD
    q = parse(cv("query", "c1", "--from", "@0", "--to", "@10", "--json", root=root))
    assert q["holds"][0]["reason"] == WEIRD
    audit = parse(cv("audit", "--json", root=root))
    assert [r["action"] for r in audit] == ["camera-add", "hold-add"]
    assert parse(cv("audit", "--verify", "--json", root=root))["ok"] is True
    ret = parse(cv("retention", "show", "--json", root=root))
    assert ret[0]["camera"] == "c1" and ret[0]["oldest"] is None
    assert parse(cv("user", "list", "--json", root=root)) == []

    # A certificate subject with a quote and a backslash (an agency names its own certificates).
    ca = agency_ca(tmp_path / "ca")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "odd.key", "-out", "odd.csr", "-subj", '/CN=Gate "7" \\\\ east', cwd=ca)
    openssl("x509", "-req", "-in", "odd.csr", "-CA", "int.pem", "-CAkey", "int.key",
            "-CAcreateserial", "-out", "odd.pem", "-days", "1000", "-extfile", "leaf.ext", cwd=ca)
    cv("keys", "import", "--key", ca / "odd.key", "--cert", ca / "odd.pem", "--chain",
       ca / "chain.pem", root=root)
    keys = parse(cv("keys", "show", "--json", root=root))
    assert 'Gate "7" \\ east' in keys["signing"]["subject"], keys
    assert "County Police Evidence Root" in keys["root"]["subject"]


def test_unit_test_runner_arguments():
    exe = REPO / "build" / "unit-tests"
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("usage: unit-tests"), r
    assert "passed" not in r.stdout
    for args, says in ((["--bogus"], "unknown option '--bogus'"),
                       (["no_such_test"], "no test name contains 'no_such_test'")):
        r = subprocess.run([exe, *args], capture_output=True, text=True)
        assert r.returncode == 2 and says in r.stderr and "passed" not in r.stdout, r
    r = subprocess.run([exe, "buf_hex", "json_good"], capture_output=True, text=True)
    assert r.returncode == 0, r
    assert r.stdout.split("\n")[:3] == ["ok buf_hex", "ok json_good", "2 passed, 0 failed"], r
