#!/usr/bin/python3
"""Hostile TCP peer for camvault failure tests: something that is not RTSP.

Listens on 127.0.0.1:PORT and treats every connection according to --mode:
  garbage  sends at once a reply-like head that is not RTSP (a binary first
           line, junk text lines, a blank line), then keeps sending slowly
           (16..512 random bytes or junk lines every 0.5 s, forever); whatever
           the client sends is read and discarded.
  http     behaves like an HTTP/1.1 server: once the request head has arrived
           (or after 5 s of silence) it answers "HTTP/1.1 200 OK" with a small
           HTML body, Content-Length and "Connection: close", then closes.
  silent   accepts, reads and discards, never sends a byte.

One thread per connection, at most 64 at a time (further connections are
closed at once). Readiness (one line on stdout, flushed):
    garbage_server: MODE on 127.0.0.1:PORT
Stops on SIGTERM/SIGINT and by itself after --duration seconds (exit 0).
Exit 1 on runtime failure (e.g. port in use), 2 on bad usage.
"""

import os
import random
import select
import signal
import socket
import socketserver
import sys
import threading

from peerlib import peer_args, peer_parser

PROG = "garbage_server"
MAX_CONNS = 64
HTML = (b"<!DOCTYPE html>\n<html><head><title>Router login</title></head>"
        b"<body><h1>It works</h1><p>This is not an RTSP server.</p></body></html>\n")
WORDS = [b"HELLO", b"ERR", b"OK?", b"SSH-2.0-nope", b"220 ftp ready", b"*", b"+PONG",
         b"ZZZ/9.9 777 Weird", b"Content-Length: -5", b"CSeq: banana", b"\xff\xfe\xfd"]


def parse_args(argv):
    p = peer_parser(PROG, __doc__)
    p.add_argument("--mode", choices=("garbage", "http", "silent"), required=True)
    return peer_args(p, argv)


STOP = threading.Event()


def junk_lines(rng):
    return b"\r\n".join(b" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
                        for _ in range(rng.randint(1, 3))) + b"\r\n"


def first_burst(rng):
    """Binary first line (no CR/LF/'$'), junk lines, blank line: a complete
    message head with no valid status line, so the client has to decide about
    it at once ('$' is kept off the start, where an RTSP client would take it
    for an interleaved packet and just skip up to 64 KiB)."""
    line = bytes(b for b in (rng.getrandbits(8) for _ in range(rng.randint(24, 200)))
                 if b not in b"\r\n$")
    return b"\x01" + line + b"\r\n" + junk_lines(rng) + b"\r\n"


def garbage_chunk(rng):
    """Later chunks: junk lines or a blob of any random bytes, 16..512 bytes."""
    if rng.random() < 0.5:
        return junk_lines(rng) + rng.choice([b"", b"\r\n"])
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(16, 512)))


def drain(sock):
    """Read whatever is ready without blocking; False once the peer has closed."""
    while True:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return True
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return True
        if not data:
            return False


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.setblocking(True)
        sock.settimeout(5.0)
        try:
            getattr(self, "mode_" + self.server.mode)(sock)
        except (OSError, socket.timeout):
            pass

    def mode_garbage(self, sock):
        rng = random.Random()
        sock.sendall(first_burst(rng))
        while not STOP.wait(0.5):
            if not drain(sock):
                return
            sock.sendall(garbage_chunk(rng))

    def mode_silent(self, sock):
        while not STOP.is_set():
            r, _, _ = select.select([sock], [], [], 0.2)
            if r and not sock.recv(65536):
                return

    def mode_http(self, sock):
        """One request, one "200 OK" with Connection: close, then close.

        Keep-alive is deliberately not offered: an RTSP client takes a line
        that does not start with "RTSP/" for a request from the server and
        answers it, and a server answering every such answer would ping-pong
        with it forever."""
        buf = b""
        waited = 0.0
        while (b"\r\n\r\n" not in buf and b"\n\n" not in buf and len(buf) < 65536
               and waited < 5.0 and not STOP.is_set()):
            r, _, _ = select.select([sock], [], [], 0.2)
            if not r:
                waited += 0.2
                continue
            data = sock.recv(65536)
            if not data:
                return
            buf += data
        method = buf.split(b" ", 1)[0]
        body = b"" if method == b"HEAD" else HTML
        sock.sendall(b"HTTP/1.1 200 OK\r\nServer: garbage_server\r\n"
                     b"Content-Type: text/html; charset=utf-8\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(HTML) + body)
        sock.shutdown(socket.SHUT_WR)
        # Let the client read everything before the close (no RST on unread input).
        for _ in range(10):
            r, _, _ = select.select([sock], [], [], 0.2)
            if r and not sock.recv(65536):
                return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = MAX_CONNS

    def __init__(self, addr, mode):
        self.mode = mode
        self.slots = threading.BoundedSemaphore(MAX_CONNS)
        super().__init__(addr, Handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def main(argv):
    a = parse_args(argv)
    try:
        srv = Server(("127.0.0.1", a.port), a.mode)
    except OSError as e:
        sys.stderr.write("%s: error: cannot listen on 127.0.0.1:%d: %s\n"
                         % (PROG, a.port, e.strerror or e))
        return 1
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    sys.stdout.write("%s: %s on 127.0.0.1:%d\n" % (PROG, a.mode, srv.server_address[1]))
    sys.stdout.flush()
    done.wait(a.duration)
    STOP.set()
    srv.shutdown()
    srv.server_close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no interpreter teardown: a late SIGTERM must not turn into exit 143


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
