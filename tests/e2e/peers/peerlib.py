"""peerlib.py: what the test peers (garbage_server.py, gst_rtsp.py) share: a command line that
says a mistake in one line and exits 2, with the --port and --duration every peer takes."""
import argparse
import sys


class Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write("%s: error: %s (see --help)\n" % (self.prog, message))
        sys.exit(2)


def peer_parser(prog, doc):
    """A parser for peer `prog` (described by the first paragraph of doc) with --port."""
    p = Parser(prog=prog, description=doc.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True, help="TCP port (0 = any free port)")
    return p


def peer_args(p, argv):
    """Add --duration, parse argv and check --port and --duration."""
    p.add_argument("--duration", type=float, default=600.0,
                   help="exit by itself after this many seconds (default 600)")
    a = p.parse_args(argv)
    if not 0 <= a.port <= 65535:
        p.error("--port must be 0..65535")
    if not a.duration > 0:
        p.error("--duration must be > 0")
    return a
