#!/usr/bin/python3
"""rtsp_load: many RTSP sessions over TCP interleaved from one asyncio loop.

Used by the camsim scale test (tests/e2e/test_06_camsim_scale.py) and by the camsim benchmark
(tests/bench/camsim_scale.py) to stand in for a recorder with a thousand cameras. Each session
does DESCRIBE, SETUP of the first (video) stream with `RTP/AVP/TCP;interleaved=0-1`, and PLAY,
then reads until told to stop or until camsim closes the connection.

Two reading modes:
- "count": parses the interleaved frames and counts RTP packets, payload bytes and video frames
  (RTP packets with the marker bit, which camsim's H.264/H.265 packetizer sets on the last
  packet of each access unit), and RTCP packets. Cheap enough for a thousand low-bitrate
  sessions.
- "drain": discards the bytes in the kernel (recv with MSG_TRUNC, no copy) and counts them. For
  a thousand 4 Mbit/s sessions, where Python could not parse 350,000 packets a second.

Usage as a program (one JSON object on stdout):
  rtsp_load.py --port N [--host 127.0.0.1] [--name cam] [--sessions 1000] [--seconds 10]
               [--mode count|drain]
"""
import argparse
import asyncio
import json
import resource
import socket
import sys
import time

RECV_BUF = 1 << 18
MSG_TRUNC = getattr(socket, "MSG_TRUNC", 0x20)


class RtspError(Exception):
    pass


class Session:
    """One RTSP session's state and counters; `error` is None while it is healthy."""

    def __init__(self, path):
        self.path = path
        self.error = None
        self.playing = False
        self.eof = False
        self.rtp_packets = 0
        self.rtp_bytes = 0
        self.frames = 0
        self.rtcp_packets = 0
        self.bytes = 0
        self.sock = None
        self.buf = bytearray()

    def result(self):
        return {"path": self.path, "playing": self.playing, "eof": self.eof, "error": self.error,
                "rtp_packets": self.rtp_packets, "rtp_bytes": self.rtp_bytes,
                "frames": self.frames, "rtcp_packets": self.rtcp_packets, "bytes": self.bytes}


async def _request(loop, s, cseq, method, url, headers=""):
    """Sends one request and returns (status, headers dict, body); bytes past it stay in s.buf."""
    req = f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: rtsp_load\r\n{headers}\r\n"
    await loop.sock_sendall(s.sock, req.encode())
    while b"\r\n\r\n" not in s.buf:
        chunk = await loop.sock_recv(s.sock, 65536)
        if not chunk:
            raise RtspError(f"{method}: connection closed")
        s.buf += chunk
    head, _, rest = bytes(s.buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("RTSP/"):
        raise RtspError(f"{method}: bad status line {lines[0]!r}")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        chunk = await loop.sock_recv(s.sock, 65536)
        if not chunk:
            raise RtspError(f"{method}: connection closed in body")
        rest += chunk
    s.buf = bytearray(rest[n:])
    if parts[1] != "200":
        raise RtspError(f"{method}: {lines[0]}")
    return hdrs, rest[:n]


async def _handshake(loop, s, host, port):
    url = f"rtsp://{host}:{port}/{s.path}"
    s.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.sock.setblocking(False)
    await loop.sock_connect(s.sock, (host, port))
    _, sdp = await _request(loop, s, 1, "DESCRIBE", url, "Accept: application/sdp\r\n")
    control = None
    for line in sdp.decode("latin-1").splitlines():
        if line.startswith("m="):
            if control is not None:
                break
            control = ""
        elif line.startswith("a=control:") and control == "":
            control = line[len("a=control:"):]
    if not control:
        raise RtspError("DESCRIBE: no a=control in the SDP's first media")
    track = control if control.startswith("rtsp://") else f"{url}/{control}"
    hdrs, _ = await _request(loop, s, 2, "SETUP", track,
                             "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
    sid = hdrs.get("session", "").split(";")[0]
    if not sid:
        raise RtspError("SETUP: no Session header")
    await _request(loop, s, 3, "PLAY", url, f"Session: {sid}\r\nRange: npt=0.000-\r\n")
    s.playing = True


def _parse(s):
    """Consumes the complete interleaved frames in s.buf and counts them."""
    buf, off, n = s.buf, 0, len(s.buf)
    while n - off >= 4:
        if buf[off] != 0x24:  # '$'; camsim sends no RTSP message after PLAY
            s.error = f"unexpected byte {buf[off]:#x} in the interleaved stream"
            off = n
            break
        size = buf[off + 2] << 8 | buf[off + 3]
        if n - off < 4 + size:
            break
        if buf[off + 1] == 0:
            s.rtp_packets += 1
            s.rtp_bytes += size
            if size >= 12 and buf[off + 5] & 0x80:
                s.frames += 1
        else:
            s.rtcp_packets += 1
        off += 4 + size
    del buf[:off]


def _on_readable(loop, s, mode, scratch):
    try:
        if mode == "drain":
            n = s.sock.recv_into(scratch, len(scratch), MSG_TRUNC)
        else:
            n = s.sock.recv_into(scratch)
    except (BlockingIOError, InterruptedError):
        return
    except OSError as e:
        n, s.error = 0, s.error or f"recv: {e}"
    if n == 0:
        s.eof = True
        loop.remove_reader(s.sock.fileno())
        return
    s.bytes += n
    if mode == "count":
        s.buf += scratch[:n]
        _parse(s)


async def _run_one(loop, s, host, port, mode, scratch, started):
    try:
        await _handshake(loop, s, host, port)
    except (OSError, RtspError, ValueError) as e:
        s.error = f"{type(e).__name__}: {e}"
        return
    finally:
        started.release()
    s.bytes += len(s.buf)
    if mode == "count":
        _parse(s)
    else:
        s.buf = bytearray()
    loop.add_reader(s.sock.fileno(), _on_readable, loop, s, mode, scratch)


async def run(host, port, paths, seconds, mode="count", until_eof=False, concurrency=200,
              on_playing=None):
    """Opens one session per path, reads for `seconds` after all are playing (or, with until_eof,
    until every connection is closed by the server or `seconds` pass), closes them and returns
    the list of Session objects. on_playing(sessions) is awaited once all handshakes are done."""
    loop = asyncio.get_running_loop()
    scratch = bytearray(RECV_BUF)
    started = asyncio.Semaphore(concurrency)
    sessions = [Session(p) for p in paths]

    async def one(s):
        await started.acquire()
        await _run_one(loop, s, host, port, mode, scratch, started)

    await asyncio.gather(*(one(s) for s in sessions))
    if on_playing is not None:
        await on_playing(sessions)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if until_eof and all(s.eof or not s.playing for s in sessions):
            break
        await asyncio.sleep(0.05)
    for s in sessions:
        if s.sock is not None:
            if s.playing and not s.eof:
                loop.remove_reader(s.sock.fileno())
            s.sock.close()
    return sessions


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="cam")
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--mode", choices=("count", "drain"), default="count")
    args = ap.parse_args()
    raise_fd_limit(args.sessions + 64)

    async def ready(sessions):
        ok = sum(1 for s in sessions if s.playing)
        print(json.dumps({"playing": ok}), flush=True)

    paths = [f"{args.name}{i}" for i in range(1, args.sessions + 1)]
    sessions = asyncio.run(run(args.host, args.port, paths, args.seconds, args.mode,
                               on_playing=ready))
    res = {"sessions": len(sessions), "playing": sum(s.playing for s in sessions),
           "errors": [s.result() for s in sessions if s.error][:10],
           "bytes": sum(s.bytes for s in sessions),
           "rtp_packets": sum(s.rtp_packets for s in sessions),
           "frames": sum(s.frames for s in sessions)}
    print(json.dumps(res), flush=True)
    return 0 if res["playing"] == res["sessions"] and not res["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
