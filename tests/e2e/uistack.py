"""Helpers for the web UI's end-to-end tests (test_2NN_ui_*.py): a real stack (camsim cameras,
`camvault record`, `camvault serve` in the site zone Asia/Shanghai) with one user per role, and
a runner for the headless-Chromium drivers in tests/browser/ui-*.mjs (one JSON line each).

The UI tests share one stack (conftest.py's `ui_stack` fixture): it starts with the first of
them, so its footage is recorded once, and stops after the last of them in a row (conftest.py's
pytest_runtest_teardown), so that the tests after them do not run beside it. A test that keeps
something per user (requests, case membership) logs in as users of its own (Stack.add_user).
"""
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CAMVAULT, REPO, Proc, cameras, cv, free_port, query, start_camsim, start_recorder, wait_for
from httpapi import add_user, logged_in

BROWSER = REPO / "tests" / "browser"
SITE_TZ = "Asia/Shanghai"
PW = "ui-test-password"
USERS = {"admin": "ada", "officer": "olga", "mediator": "mei", "resident": "ray"}


def browser_ready():
    """None when the browser tests can run, else why not (for pytest.skip)."""
    if not shutil.which("node"):
        return "node is not installed (tools/deps.sh test)"
    if not (BROWSER / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (tools/deps.sh test runs npm ci)"
    if not Path(os.environ.get("CAMVAULT_CHROMIUM", "/usr/bin/chromium")).exists():
        return "chromium is not installed (tools/deps.sh test)"
    return None


def node(script, *args, timeout=300, check=True):
    """Run tests/browser/SCRIPT ARGS; returns the JSON lines it printed."""
    r = subprocess.run(["node", str(BROWSER / script), *[str(a) for a in args]], capture_output=True,
                       text=True, timeout=timeout, cwd=BROWSER)
    lines = []
    for line in r.stdout.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            pass
    if check and r.returncode != 0:
        raise AssertionError(f"{script} exited {r.returncode}: {r.stderr.strip()[-2000:]}\n{r.stdout[-2000:]}")
    return lines


def start_serve(procs, root, tmp_path, name="serve"):
    port = free_port()
    env = dict(os.environ, TZ=SITE_TZ)
    p = Proc([CAMVAULT, "serve", "--root", root, "--listen", f"127.0.0.1:{port}"],
             ready="camvault: serving", log=tmp_path / f"{name}.log", timeout=30, env=env)
    p.port = port
    p.base = f"http://127.0.0.1:{port}"
    procs.append(p)
    return p


class Stack:
    """camsim with N cameras, the recorder and the server on one data root."""

    def __init__(self, procs, root, tmp_path, cams=(("gate-3", False, "North gate", "North gate, Qinghe Rd"),
                                                   ("square-1", True, "Market square", "Market square"),
                                                   ("alley-12", False, "Alley by building 12", "Building 12 alley"))):
        self.root, self.tmp = root, tmp_path
        for role, name in USERS.items():
            add_user(root, name, role, PW)
        self.sim = start_camsim(procs, tmp_path, cameras=len(cams), name="cam")
        for i, (cid, public, name, place) in enumerate(cams, 1):
            cv("camera", "add", cid, "--url", f"rtsp://127.0.0.1:{self.sim.port}/cam{i}", "--name", name,
               "--location", place, *(["--public"] if public else []), root=root)
        self.rec = start_recorder(procs, root, tmp_path, segment=5, extra=())
        self.srv = start_serve(procs, root, tmp_path)
        self.base = self.srv.base
        self.port = self.srv.port

    def wait_footage(self, cam, seconds):
        """Wait until `cam` has at least `seconds` of indexed footage; returns its newest segments
        that hold that much (on a stack that has been recording for a while, not all of them)."""
        def enough():
            segs = query(self.root, cam)["segments"]
            for i in range(len(segs) - 1, -1, -1):
                if (segs[-1]["end_us"] - segs[i]["start_us"]) / 1e6 >= seconds:
                    return segs[i:]
            return None
        return wait_for(enough, seconds + 60, step=0.5, what=f"{seconds}s of footage of {cam}")

    def add_user(self, name, role):
        """A user of this test alone (the stack's USERS are shared by every UI test)."""
        add_user(self.root, name, role, PW)
        return name

    def client(self, role):
        return logged_in(self.port, USERS[role], PW)

    def login(self, name):
        return logged_in(self.port, name, PW)

    def user(self, role):
        return [USERS[role], PW]

    def cred(self, name):
        return [name, PW]


_shared = None


def shared_stack(tmp_path_factory):
    """The UI tests' one Stack (three cameras: gate-3, square-1 public, alley-12), started on
    first use; conftest.py's `ui_stack` fixture."""
    global _shared
    if _shared is None:
        tmp = tmp_path_factory.mktemp("uistack")
        root = tmp / "root"
        cv("init", root=root)
        procs = []
        try:
            _shared = Stack(procs, root, tmp)
        except BaseException:
            for p in reversed(procs):
                p.close()
            raise
        _shared.procs = procs
    return _shared


def stop_shared_stack():
    global _shared
    if _shared is not None:
        for p in reversed(_shared.procs):
            p.close()
        _shared = None


def site_time(us):
    """'YYYY-MM-DD HH:MM:SS' of an instant in the site zone."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo
    d = datetime.fromtimestamp(us / 1e6, timezone.utc).astimezone(ZoneInfo(SITE_TZ))
    return d.strftime("%Y-%m-%d %H:%M:%S"), d.strftime("%z")
