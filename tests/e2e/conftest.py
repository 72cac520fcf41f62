"""Fixtures for camvault's end-to-end tests.

Every test drives the real `build/camvault` binary against real peers: our camera simulator
(`build/camsim`), an RTSP server that is not ours (gst-rtsp-server, tests/e2e/peers/gst_rtsp.py)
and hostile servers (peers/garbage_server.py). Servers listen on 127.0.0.1 on free ports, are
given a --duration safety net, and are always stopped by the fixture that started them.
"""
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CAMVAULT_BUILD", REPO / "build"))  # e.g. a sanitizer build
CAMVAULT = BUILD / "camvault"
FUZZ_VERIFY = BUILD / "fuzz-verify"
BROWSER = REPO / "tests" / "browser"  # node drivers of headless Chromium (playwright-core)
CAMSIM = BUILD / "camsim"
PEERS = Path(__file__).resolve().parent / "peers"
PY = "/usr/bin/python3"
# The clock's state is the tests' to choose, not the host's (a container's clock often reads as
# unsynchronised): synchronised unless a test sets the hook itself (docs/operations.md).
os.environ.setdefault("CAMVAULT_TEST_CLOCK", "sync:1000")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, step=0.2, what="condition"):
    """Poll pred() until it returns a truthy value; fail the test after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


class Proc:
    """A child process whose first stdout line says it is ready; stopped on close()."""

    def __init__(self, argv, ready=None, log=None, timeout=60, env=None):
        self.argv = [str(a) for a in argv]
        self.log = log
        out = open(log, "wb") if log else subprocess.DEVNULL
        self.p = subprocess.Popen(self.argv, stdout=subprocess.PIPE if ready else out,
                                  stderr=out if log else subprocess.DEVNULL, env=env)
        self.ready_line = None
        if ready:
            end = time.monotonic() + timeout
            line = b""
            os.set_blocking(self.p.stdout.fileno(), False)
            while time.monotonic() < end:
                chunk = self.p.stdout.read() or b""
                line += chunk
                if b"\n" in line:
                    break
                if self.p.poll() is not None:
                    break
                time.sleep(0.05)
            first = line.split(b"\n")[0].decode(errors="replace")
            if ready not in first:
                self.close()
                err = Path(log).read_text(errors="replace")[-2000:] if log else ""
                raise AssertionError(f"{self.argv[0]} did not get ready: {first!r} {err}")
            self.ready_line = first

    def running(self):
        return self.p.poll() is None

    def send(self, sig):
        if self.running():
            self.p.send_signal(sig)

    def close(self, sig=signal.SIGTERM, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self.p.stdout:
            self.p.stdout.close()
        return self.p.returncode


def _stop_ui_stack():
    if "uistack" in sys.modules:
        sys.modules["uistack"].stop_shared_stack()


@pytest.fixture(scope="session")
def _ui_stack_guard():
    yield
    _stop_ui_stack()  # whatever happened in between


@pytest.fixture
def ui_stack(_ui_stack_guard, tmp_path_factory):
    """The web UI tests' one running stack (uistack.Stack: camsim, recorder, server, users),
    started by the first test that asks for it and kept for the next ones."""
    import uistack
    return uistack.shared_stack(tmp_path_factory)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """Stop the UI tests' shared stack after the last of them in a row rather than at the end
    of the session, so that no later test runs beside it."""
    uses = lambda it: it is not None and "ui_stack" in getattr(it, "fixturenames", ())
    if uses(item) and not uses(nextitem):
        _stop_ui_stack()


@pytest.fixture
def procs():
    """Collects processes started by a test and stops them all at the end, newest first."""
    started = []
    yield started
    for p in reversed(started):
        p.close()


def cv(*args, root=None, check=True, timeout=60):
    """Run the camvault CLI; returns CompletedProcess with text output."""
    argv = [str(CAMVAULT), *[str(a) for a in args]]
    if root is not None:
        argv[2:2] = ["--root", str(root)]  # right after the command: before any bad option
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
    return r


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    cv("init", root=r)
    return r


def start_camsim(procs, tmp_path, cameras=1, name="cam", extra=(), port=None, duration=600):
    port = port or free_port()
    stats = tmp_path / f"camsim-{port}.json"
    media = REPO / "build" / "camsim-media"
    argv = [CAMSIM, "--port", port, "--cameras", cameras, "--name", name, "--width", 640,
            "--height", 360, "--fps", 25, "--gop", 50, "--bitrate", "800k", "--loop-seconds", 8,
            "--media-dir", media, "--stats", stats, "--duration", duration, *extra]
    p = Proc(argv, ready="camsim: serving", log=tmp_path / f"camsim-{port}.log", timeout=180)
    p.port, p.stats = port, stats
    procs.append(p)
    return p


def start_gst(procs, tmp_path, path="/cam", codec="h264", audio="none", port=None, duration=600,
              extra=()):
    port = port or free_port()
    stats = tmp_path / f"gst-{port}.json"
    argv = [PY, PEERS / "gst_rtsp.py", "--port", port, "--path", path, "--codec", codec,
            "--audio", audio, "--fps", 25, "--gop", 50, "--stats", stats, "--duration", duration,
            *extra]
    p = Proc(argv, ready="gst_rtsp: serving", log=tmp_path / f"gst-{port}.log")
    p.port, p.stats, p.url = port, stats, f"rtsp://127.0.0.1:{port}{path}"
    procs.append(p)
    return p


def start_recorder(procs, root, tmp_path, segment=10, extra=(), name="recorder"):
    log = tmp_path / f"{name}.log"
    argv = [CAMVAULT, "record", "--root", root, "--segment-seconds", segment, *extra]
    p = Proc(argv, log=log)
    p.logfile = log
    procs.append(p)
    return p


@contextlib.contextmanager
def fresh_root(tmp_path_factory, name):
    """For a module's shared world: a new temp dir `name`, a data root initialized in it and a
    list for the processes started there; yields (tmp, root, procs) and stops the processes,
    newest first, when the block ends (also on a failure)."""
    tmp = tmp_path_factory.mktemp(name)
    root = tmp / "root"
    cv("init", root=root)
    procs = []
    try:
        yield tmp, root, procs
    finally:
        for p in reversed(procs):
            p.close()


@pytest.fixture(scope="session")
def recorded(tmp_path_factory):
    """A root with ~20 s of three cameras (c1..c3, AAC audio, 3-s segments, a checkpoint every
    2 s), the recorder stopped: the export tests' footage (test_90, test_91), recorded once."""
    with fresh_root(tmp_path_factory, "export") as (tmp, root, procs):
        sim = start_camsim(procs, tmp, cameras=3, name="cam", extra=["--audio", "aac"])
        for i in (1, 2, 3):
            cv("camera", "add", f"c{i}", "--url", f"rtsp://127.0.0.1:{sim.port}/cam{i}",
               "--name", f"Camera {i}", "--location", f"Gate {i}", root=root)
        rec = start_recorder(procs, root, tmp, segment=3, extra=["--checkpoint-interval", "2"])
        wait_for(lambda: all(len(query(root, f"c{i}")["segments"]) >= 6 for i in (1, 2, 3)), 60,
                 what="six segments per camera")
        rec.close()
    return root


@contextlib.contextmanager
def tmpfs_at(path, size):
    """A tmpfs of `size` ("3m") mounted over path for the block; the test is skipped where this
    machine does not let us mount."""
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def query(root, camera, frm="@0", to="@4102444800"):
    r = cv("query", camera, "--from", frm, "--to", to, "--json", root=root)
    return json.loads(r.stdout)


def cv_export(root, camera, from_us, to_us, case, out):
    """`camvault export` of camera over [from_us, to_us) for case into the package out."""
    cv("export", "--camera", camera, "--from", f"@{from_us / 1e6}", "--to", f"@{to_us / 1e6}",
       "--case", case, "--out", out, root=root)
    return out


def package_manifest(package):
    """The manifest.json of an evidence package, as a dict."""
    with zipfile.ZipFile(package) as z:
        name = next(n for n in z.namelist() if n.endswith("/manifest.json"))
        return json.loads(z.read(name))


def export_verify(root, camera, segs, case, out):
    """cv_export from the start of segs[0] to the end of segs[-1] (segments of query()), then
    `camvault verify` of the package: verify's CompletedProcess (not checked)."""
    cv_export(root, camera, segs[0]["start_us"], segs[-1]["end_us"], case, out)
    return cv("verify", out, check=False)


def top_boxes(data, strict=True):
    """Top-level boxes of ISO BMFF bytes: [(type, offset, size)]. strict: every byte is in a
    box (asserted); otherwise stop at the first box that is cut off (a stream still growing, a
    file cut by a crash). A box header whose size is below its own 8 bytes fails either way."""
    out, off = [], 0
    while off + 8 <= len(data):
        size, typ = struct.unpack(">I4s", data[off:off + 8])
        if size == 1:
            if off + 16 > len(data) and not strict:
                break
            size = struct.unpack(">Q", data[off + 8:off + 16])[0]
        assert size >= 8, f"bad box at {off}"
        if off + size > len(data) and not strict:
            break
        out.append((typ.decode("latin1"), off, size))
        off += size
    assert off == len(data) or not strict, "trailing bytes after the last box"
    return out


def boxes_end(boxes):
    """Where the last of top_boxes' boxes ends (0 for none): the start of what is still cut off."""
    return boxes[-1][1] + boxes[-1][2] if boxes else 0


def cameras(root):
    return {c["id"]: c for c in json.loads(cv("camera", "list", "--json", root=root).stdout)}


def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def decode_errors(path):
    """What ffmpeg says when decoding every frame of a file ('' when it decodes cleanly)."""
    r = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120)
    return (r.stderr + ("" if r.returncode == 0 else f" (exit {r.returncode})")).strip()


def probe_streams(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json",
                        str(path)], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(r.stdout)["streams"]
