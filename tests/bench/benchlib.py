"""benchlib: what camvault's benchmark drivers share.

Process figures come from /proc (CPU: utime+stime; memory: VmRSS; disk: write_bytes, which Linux
charges to the process that dirties the pages), camsim is started and stopped here, and every
driver writes its result through write_result() as one JSON file. Nothing here times anything
that a test asserts.
"""
import argparse
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
CAMVAULT = Path(os.environ.get("BENCH_CAMVAULT", BUILD / "camvault"))  # another build, for A/B
CAMSIM = BUILD / "camsim"
MEDIA = BUILD / "camsim-media"
HZ = os.sysconf("SC_CLK_TCK")
WORK_DIR = os.environ.get("BENCH_WORK_DIR", "/var/tmp")  # same disk as a real data root
LOAD_AT_START = os.getloadavg()  # the machine is shared: how busy it was when the driver began


def arg_parser(doc, **options):
    """The driver's ArgumentParser: described by the first line of doc, one --option per keyword
    (in the order given, _ written as -), then --out (where the result file goes). A keyword's
    value is the default, whose type (int or float) is the option's type, a string staying a
    string; or a tuple (type, default[, help]) where the type is not the default's (type None: a
    string). The driver adds options with other settings (flags, choices) itself."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    for name, spec in options.items():
        typ, default, hlp = spec + (None,) * (3 - len(spec)) if isinstance(spec, tuple) else (
            None, spec, None)
        if not isinstance(spec, tuple) and isinstance(default, (int, float)):
            typ = type(default)
        kw = {"default": default}
        if typ:
            kw["type"] = typ
        if hlp:
            kw["help"] = hlp
        ap.add_argument("--" + name.replace("_", "-"), **kw)
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    return ap


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pids):
    """utime + stime of the processes, in seconds (children not included)."""
    total = 0
    for pid in pids:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError):
            pass
    return total / HZ


def proc_sum(pids, file, key, scale=1):
    """Sum over pids of the number after `key` in /proc/PID/<file> (times scale); pids that
    are gone count 0."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
                if line.startswith(key):
                    total += int(line.split()[1]) * scale
        except OSError:
            pass
    return total


def rss_bytes(pids):
    return proc_sum(pids, "status", "VmRSS:", 1024)


def write_bytes(pids):
    return proc_sum(pids, "io", "write_bytes:")


def measure(pids, seconds, others=None, step=0.5):
    """Samples `pids` (a list) over `seconds`: CPU in cores, peak summed RSS, written bytes per
    second. others: {name: pid} whose CPU is measured over the same window (e.g. camsim)."""
    others = others or {}
    c0, w0, t0 = cpu_seconds(pids), write_bytes(pids), time.monotonic()
    o0 = {k: cpu_seconds([p]) for k, p in others.items()}
    peak, end = 0, t0 + seconds
    while time.monotonic() < end:
        peak = max(peak, rss_bytes(pids))
        time.sleep(min(step, max(0.0, end - time.monotonic())))
    dt = time.monotonic() - t0
    res = {"cpu_cores": (cpu_seconds(pids) - c0) / dt, "rss_peak_bytes": peak,
           "write_bytes_per_s": (write_bytes(pids) - w0) / dt, "window_s": round(dt, 2)}
    for k, p in others.items():
        res[f"{k}_cpu_cores"] = (cpu_seconds([p]) - o0[k]) / dt
    return res


def start_camsim(port, cameras, stats, width=1920, height=1080, fps=25, gop=50, bitrate="4000k",
                 extra=(), name="cam", log=None):
    """Starts camsim and returns its Popen once it prints its ready line (exits on failure).
    Its clip loops every 60 s: with a 10-s loop the picture checks, ~12 s apart at 1080p, saw
    the same picture each look and paid for confirming 'frozen' (recorder/picture.h)."""
    argv = [str(CAMSIM), "--port", str(port), "--cameras", str(cameras), "--name", name,
            "--width", str(width), "--height", str(height), "--fps", str(fps), "--gop", str(gop),
            "--bitrate", str(bitrate), "--loop-seconds", "60", "--media-dir", str(MEDIA),
            "--stats", str(stats), *map(str, extra)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                         stderr=open(log, "wb") if log else subprocess.DEVNULL)
    line = p.stdout.readline().decode(errors="replace")
    if "serving" not in line:
        p.kill()
        sys.exit(f"camsim did not start: {line!r} ({' '.join(argv)})")
    return p


def stop(p, sig=signal.SIGTERM, timeout=30):
    if p is None or p.poll() is not None:
        return p.returncode if p else None
    p.send_signal(sig)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def read_stats(path):
    """camsim's --stats file (rewritten atomically every second)."""
    for _ in range(20):
        try:
            return json.loads(Path(path).read_text())
        except (OSError, ValueError):
            time.sleep(0.1)
    return {"cameras": {}, "sessions_total": 0, "sessions_dropped": 0, "sessions_active": 0}


def cv(*args, root, check=True):
    return subprocess.run([str(CAMVAULT), *map(str, args), "--root", str(root)], check=check,
                          capture_output=True, text=True)


def dd_write_rate(directory, megabytes):
    """Bytes per second of `dd if=/dev/zero bs=1M conv=fdatasync` into `directory`."""
    target = Path(directory) / "dd-bench.tmp"
    try:
        r = subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M",
                            f"count={megabytes}", "conv=fdatasync"], capture_output=True,
                           text=True, check=True)
    finally:
        target.unlink(missing_ok=True)
    m = re.search(r"^(\d+) bytes .* copied, ([\d.]+) s", r.stderr, re.M)
    return int(m.group(1)) / float(m.group(2))


def drop_file_cache(paths):
    """Evicts these files (only these) from the page cache, so a run reads from the disk."""
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def timed(argv, **kw):
    """Runs argv to completion; returns (seconds, peak RSS bytes of that process, CompletedProcess
    fields). Peak RSS comes from wait4's rusage of exactly this child."""
    t0 = time.monotonic()
    p = subprocess.Popen([str(a) for a in argv], stdout=kw.pop("stdout", subprocess.DEVNULL),
                         stderr=subprocess.PIPE, **kw)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {p.returncode}: {err.decode(errors='replace')[-500:]}")
    return dt, ru.ru_maxrss * 1024


def machine():
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"host": os.uname().nodename, "cores": os.cpu_count(), "cpu": model,
            "memory_gib": round(mem / 2**30, 1), "kernel": os.uname().release,
            "load_avg_at_start": [round(x, 2) for x in LOAD_AT_START],
            "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]}


def write_result(out_dir, name, result):
    """Writes result as <out_dir>/<name>-<UTC time>.json and returns the path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": machine(), **result}
    path = out / time.strftime(f"{name}-%Y%m%dT%H%M%SZ.json", time.gmtime())
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.rename(path)
    print(f"{name}: wrote {path}", flush=True)
    return path


NTP_UNIX = 2208988800  # seconds from the NTP epoch (1900) to the UNIX one


def prft_wall(buf, off):
    """UNIX seconds (µs precision) of the NTP wall clock of a version-1 prft box at buf[off:]
    (a timestamp with the high bit clear is in NTP era 1, after 2036)."""
    ntp = struct.unpack(">Q", buf[off + 16:off + 24])[0]
    secs, frac = ntp >> 32, ntp & 0xffffffff
    if not secs & 0x80000000:
        secs += 1 << 32
    return secs - NTP_UNIX + frac / 2**32


def read_live(resp, seconds):
    """Reads a streaming HTTP response (live.mp4) for `seconds` or to its end; yields (the
    client's wall clock when a read returned, the bytes it returned). A latency measure takes
    that clock as the arrival of what the bytes complete."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        data = resp.read1(65536)
        if not data:
            break
        yield time.time(), data


class Slowloris:
    """A slowloris attack: per_addr connections from each of addrs (loopback addresses) that
    send a request's headers one line every `interval` s and never finish; dropped ones are
    reconnected on the next round. Used by the abuse test (tests/e2e/test_105_abuse.py) and the
    live viewers' bench."""

    def __init__(self, port, addrs, per_addr, interval=2.0):
        self.port, self.interval = port, interval
        self.slots = [(a, None) for a in addrs for _ in range(per_addr)]
        self.stop = threading.Event()
        self.rounds = 0
        self.held = 0  # connections whose last line went through
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        n = 0
        while not self.stop.is_set():
            held = 0
            for i, (addr, s) in enumerate(self.slots):
                try:
                    if s is None:
                        s = socket.create_connection(("127.0.0.1", self.port), timeout=2,
                                                     source_address=(addr, 0))
                        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: camvault\r\n")
                    else:
                        n += 1
                        s.sendall(b"X-Slow-%d: %d\r\n" % (n, n))
                    held += 1
                except OSError:
                    if s is not None:
                        s.close()
                    s = None
                self.slots[i] = (addr, s)
            self.held = held
            self.rounds += 1
            self.stop.wait(self.interval)
        for _, s in self.slots:
            if s is not None:
                s.close()

    def close(self):
        self.stop.set()
        self.thread.join(60)
