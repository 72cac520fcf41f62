"""tools/deps.sh checks what the tests use (make test runs it first): every program, GStreamer
element, Python module and the Node.js version, each missing thing named on a line of its own."""
import os
import subprocess

from conftest import REPO

DEPS = REPO / "tools" / "deps.sh"


def check(**extra):
    env = dict(os.environ, **{f"CAMVAULT_DEPS_EXTRA_{k.upper()}": v for k, v in extra.items()})
    return subprocess.run([DEPS, "check"], capture_output=True, text=True, env=env, timeout=120)


def test_everything_the_tests_use_is_here():
    r = check()
    assert r.returncode == 0, r.stderr


def test_each_missing_thing_named_on_its_own_line():
    r = check(elements="nosuchelement timeoverlay", binaries="no-such-program",
              python="no_such_module gi:NoSuchNamespace-1.0")
    assert r.returncode == 1, r
    lines = r.stderr.splitlines()
    assert "deps.sh: missing GStreamer element: nosuchelement" in lines, lines
    assert "deps.sh: missing program: no-such-program" in lines, lines
    assert any(ln.startswith("deps.sh: missing Python module: no_such_module ") for ln in lines), lines
    assert any(ln.startswith("deps.sh: missing Python module: NoSuchNamespace-1.0 ") for ln in lines), lines
    assert not any("timeoverlay" in ln for ln in lines), lines  # only what is missing is named
    assert len(lines) == 4, lines


def test_every_npm_dependency_is_checked():
    """deps.sh installs and checks each package of tests/browser/package.json (a package added
    there but not to deps.sh stays missing on a machine that ran npm ci before)."""
    import json
    import re
    pkg = json.loads((REPO / "tests" / "browser" / "package.json").read_text())
    m = re.search(r'^npm_packages="([^"]*)"', DEPS.read_text(), re.M)
    assert m, "deps.sh has no npm_packages line"
    assert sorted(m.group(1).split()) == sorted(pkg["dependencies"])
