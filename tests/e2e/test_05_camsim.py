"""End-to-end tests for build/camsim, the RTSP camera simulator.

Each test starts real camsim processes on free ports (with --duration as a safety net, killed in
a finalizer) and checks them with what a user would use: ffprobe, ffmpeg, and for protocol
details a raw RTSP conversation over a socket. Media is small (320x240, 10 fps, 2 s GOPs) so that
generating it takes well under a second; it goes to a per-run temporary directory.
"""

import json
import os
import signal
import socket
import struct
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# CAMSIM_BIN runs the tests against another build, e.g. build-asan/camsim.
CAMSIM = Path(os.environ.get("CAMSIM_BIN", REPO / "build" / "camsim"))
SMALL = ["--width", "320", "--height", "240", "--fps", "10", "--gop", "20", "--bitrate", "200k"]


@pytest.fixture(scope="session")
def camsim_bin():
    if "CAMSIM_BIN" not in os.environ:
        subprocess.run(["make", "-C", str(REPO), "--no-print-directory", "build/camsim"],
                       check=True, stdout=subprocess.DEVNULL)
    return CAMSIM


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("camsim-media")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Camsim:
    def __init__(self, proc, port, stats):
        self.proc, self.port, self.stats_path = proc, port, stats

    def url(self, cam="cam1"):
        return f"rtsp://127.0.0.1:{self.port}/{cam}"

    def stats(self):
        return json.loads(self.stats_path.read_text())


@pytest.fixture
def camsim(camsim_bin, media_dir, tmp_path):
    """Returns start(*args): a ready camsim serving with the given extra flags."""
    procs = []

    def start(*args, duration=60):
        port = free_port()
        stats = tmp_path / f"stats-{port}.json"
        cmd = [str(camsim_bin), "--port", str(port), "--media-dir", str(media_dir),
               "--stats", str(stats), "--duration", str(duration), *SMALL, *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        line = proc.stdout.readline()  # blocks until ready or exit
        assert line.startswith("camsim: serving "), (line, proc.stderr.read())
        assert f"on rtsp://127.0.0.1:{port}/cam1..cam" in line
        return Camsim(proc, port, stats)

    yield start
    reports = []
    for proc in procs:
        # SIGTERM, not SIGKILL: a clean exit lets a sanitizer build report leaks.
        if proc.poll() is None:
            proc.terminate()
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if "Sanitizer" in err or "runtime error:" in err:
            reports.append(err)
    assert not reports, "\n".join(reports)


def run(cmd, timeout=40):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def probe_streams(url, transport="tcp"):
    r = run(["ffprobe", "-v", "error", "-rtsp_transport", transport, "-show_entries",
             "stream=codec_type,codec_name,width,height,r_frame_rate,sample_rate",
             "-of", "json", url])
    assert r.returncode == 0, r.stderr
    return {s["codec_type"]: s for s in json.loads(r.stdout)["streams"]}


def packets(path, stream):
    r = run(["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries",
             "packet=pts_time", "-of", "csv=p=0", str(path)])
    assert r.returncode == 0, r.stderr
    return [float(x) for x in r.stdout.split()]


def decode_errors(path):
    r = run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"])
    return r.stderr.strip()


@pytest.mark.parametrize("codec,audio,want_video,want_audio", [
    ("h264", "aac", "h264", ("aac", "48000")),
    ("h264", "pcmu", "h264", ("pcm_mulaw", "8000")),
    ("h265", "none", "hevc", None),
])
def test_ffprobe_sees_codec_size_fps_and_audio(camsim, codec, audio, want_video, want_audio):
    sim = camsim("--codec", codec, "--audio", audio)
    streams = probe_streams(sim.url())
    v = streams["video"]
    assert (v["codec_name"], v["width"], v["height"], v["r_frame_rate"]) == \
        (want_video, 320, 240, "10/1")
    if want_audio:
        a = streams["audio"]
        assert (a["codec_name"], a["sample_rate"]) == want_audio
    else:
        assert "audio" not in streams


def test_recording_crosses_loop_boundary_cleanly(camsim, tmp_path):
    sim = camsim("--audio", "aac", "--loop-seconds", "4")
    out = tmp_path / "out.mkv"
    r = run(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", sim.url(), "-t", "9",
             "-c", "copy", "-y", str(out)])
    assert r.returncode == 0, r.stderr
    assert decode_errors(out) == ""
    video = packets(out, "v")
    audio = packets(out, "a")
    # 9 s at 10 fps crosses the 4 s clip's loop point at least twice.
    assert 8.0 <= video[-1] - video[0] <= 9.5, (video[0], video[-1])
    assert 80 <= len(video) <= 95
    assert all(b > a for a, b in zip(video, video[1:])), "video timestamps not increasing"
    assert all(b > a for a, b in zip(audio, audio[1:])), "audio timestamps not increasing"
    assert len(audio) > 9 * 40
    # What camsim says it sent covers what was recorded.
    time.sleep(1.2)
    assert sim.stats()["cameras"]["cam1"]["video_frames_sent"] >= len(video)


def test_udp_transport(camsim, tmp_path):
    sim = camsim("--audio", "pcma")
    out = tmp_path / "udp.mkv"
    r = run(["ffmpeg", "-v", "error", "-rtsp_transport", "udp", "-i", sim.url(), "-t", "3",
             "-c", "copy", "-y", str(out)])
    assert r.returncode == 0, r.stderr
    assert len(packets(out, "v")) >= 25
    assert len(packets(out, "a")) >= 100  # 20 ms G.711 packets
    assert decode_errors(out) == ""


def test_twenty_concurrent_clients_on_different_cameras(camsim, tmp_path):
    sim = camsim("--cameras", "20", "--audio", "aac")

    def record(i):
        out = tmp_path / f"c{i}.mkv"
        r = run(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", sim.url(f"cam{i}"),
                 "-t", "3", "-c", "copy", "-y", str(out)])
        return r, out

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(record, range(1, 21)))
    time.sleep(1.2)  # the stats file is rewritten every second
    stats = sim.stats()
    assert stats["sessions_total"] >= 20
    assert stats["sessions_dropped"] == 0
    for i, (r, out) in enumerate(results, start=1):
        assert r.returncode == 0, (i, r.stderr)
        frames = len(packets(out, "v"))
        cam = stats["cameras"][f"cam{i}"]
        assert frames >= 20, (i, frames)
        assert cam["sessions"] >= 1
        assert cam["video_frames_sent"] >= frames, (i, cam, frames)
        assert cam["audio_frames_sent"] > 0


class RtspConn:
    """A raw RTSP client connection that keeps bytes read past a response for the next read."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            self.buf += chunk

    def request(self, text):
        """Sends one request and returns (status, headers, body)."""
        self.sock.sendall(text.encode())
        while True:  # skip interleaved media that precedes the response
            self._fill(4)
            if self.buf[0:1] != b"$":
                break
            self.interleaved(1)
        while b"\r\n\r\n" not in self.buf:
            self._fill(len(self.buf) + 1)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        length = int(headers.get("content-length", 0))
        self._fill(length)
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(lines[0].split()[1]), headers, body.decode()

    def interleaved(self, count):
        """Reads count interleaved frames: [(channel, payload)]."""
        frames = []
        while len(frames) < count:
            self._fill(4)
            assert self.buf[0:1] == b"$", self.buf[:16]
            n = struct.unpack(">H", self.buf[2:4])[0]
            self._fill(4 + n)
            frames.append((self.buf[1], self.buf[4:4 + n]))
            self.buf = self.buf[4 + n:]
        return frames


def test_raw_session_protocol_details(camsim):
    sim = camsim("--audio", "aac", "--cameras", "2")
    c = RtspConn(sim.port)
    url = sim.url("cam2")
    try:
        status, h, _ = c.request(f"OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        assert status == 200 and h["cseq"] == "1" and "GET_PARAMETER" in h["public"]
        status, h, sdp = c.request(f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\n\r\n")
        assert status == 200 and h["content-type"] == "application/sdp"
        assert "sprop-parameter-sets=" in sdp and "config=" in sdp
        status, h, _ = c.request(f"SETUP {url}/streamid=0 RTSP/1.0\r\nCSeq: 3\r\n"
                                 "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n")
        assert status == 200 and "interleaved=0-1" in h["transport"]
        assert "timeout=" in h["session"]
        session = h["session"].split(";")[0]
        before = time.time()
        status, h, _ = c.request(f"PLAY {url} RTSP/1.0\r\nCSeq: 4\r\nSession: {session}\r\n\r\n")
        assert status == 200
        info = dict(kv.split("=", 1) for kv in h["rtp-info"].split(";")[1:])
        frames = c.interleaved(4)
        # A sender report comes first, on the RTCP channel, mapping RTP time to wall clock.
        channel, sr = frames[0]
        assert channel == 1 and sr[1] == 200
        ntp_sec, ntp_frac, rtp_ts = struct.unpack(">III", sr[8:20])
        assert abs(ntp_sec - 2208988800 + ntp_frac / 2**32 - before) < 2.0
        assert rtp_ts == int(info["rtptime"])
        # Then media, starting at the sequence number and timestamp RTP-Info announced.
        channel, rtp = frames[1]
        seq, ts = struct.unpack(">HI", rtp[2:8])
        assert channel == 0 and seq == int(info["seq"]) and ts == int(info["rtptime"])
        # Media keeps flowing until the TEARDOWN answer; request() skips it.
        status, h, _ = c.request(f"TEARDOWN {url} RTSP/1.0\r\nCSeq: 5\r\nSession: {session}\r\n\r\n")
        assert (status, h["cseq"]) == (200, "5")
    finally:
        c.close()


def test_slow_client_is_dropped_without_stalling_others(camsim, tmp_path):
    sim = camsim("--cameras", "2", "--width", "640", "--height", "480", "--fps", "25",
                 "--gop", "50", "--bitrate", "4M", "--loop-seconds", "4", "--max-queue", "256k")
    healthy = subprocess.Popen(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i",
                                sim.url("cam2"), "-t", "4", "-c", "copy", "-y",
                                str(tmp_path / "ok.mkv")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    c = RtspConn(sim.port)
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        url = sim.url("cam1")
        _, h, _ = c.request(f"SETUP {url}/streamid=0 RTSP/1.0\r\nCSeq: 1\r\n"
                            "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n")
        session = h["session"].split(";")[0]
        c.sock.sendall(f"PLAY {url} RTSP/1.0\r\nCSeq: 2\r\nSession: {session}\r\n\r\n".encode())
        # Never read: camsim's queue for this connection fills up and it drops the session.
        deadline = time.time() + 20
        while time.time() < deadline and sim.stats()["sessions_dropped"] == 0:
            time.sleep(0.5)
        assert sim.stats()["sessions_dropped"] == 1
    finally:
        c.close()
    _, err = healthy.communicate(timeout=30)
    assert healthy.returncode == 0, err
    assert len(packets(tmp_path / "ok.mkv", "v")) >= 90
    time.sleep(1.2)
    assert sim.stats()["sessions_dropped"] == 1


def test_unknown_path_is_404(camsim):
    sim = camsim("--cameras", "2")
    for path in ("/nope", "/cam3", "/cam0", "/cam01"):
        c = RtspConn(sim.port)
        try:
            status, h, _ = c.request(f"DESCRIBE rtsp://127.0.0.1:{sim.port}{path} RTSP/1.0\r\n"
                                     "CSeq: 7\r\n\r\n")
        finally:
            c.close()
        assert (status, h["cseq"]) == (404, "7"), path


def test_oversized_request_closes_connection(camsim):
    sim = camsim()
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
        s.sendall(b"OPTIONS * RTSP/1.0\r\nX-Pad: " + b"a" * 9000)
        data = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        assert data == b"" or data.startswith(b"RTSP/1.0 400")


@pytest.mark.parametrize("args,needle", [
    (["--port", "1", "--fps", "abc"], "--fps"),
    (["--port", "1", "--codec", "vp8"], "--codec"),
    (["--port", "1", "--bogus"], "--bogus"),
    (["--cameras", "2"], "--port"),
])
def test_bad_flag_exits_2_with_one_line(camsim_bin, args, needle):
    r = run([str(camsim_bin), *args], timeout=10)
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("camsim: ") and needle in lines[0], r.stderr
    assert r.stdout == ""


def test_port_in_use_exits_1_naming_the_port(camsim_bin, media_dir):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        r = run([str(camsim_bin), "--port", str(port), "--media-dir", str(media_dir), *SMALL],
                timeout=10)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and str(port) in lines[0] and "in use" in lines[0], r.stderr


def test_sigterm_exits_0_and_writes_final_stats(camsim):
    sim = camsim()
    sim.proc.send_signal(signal.SIGTERM)
    assert sim.proc.wait(timeout=10) == 0
    stats = sim.stats()
    assert stats["sessions_active"] == 0 and "cam1" in stats["cameras"]
