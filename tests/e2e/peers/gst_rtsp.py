#!/usr/bin/python3
"""Foreign RTSP camera for camvault end-to-end tests.

Serves one live test stream with gst-rtsp-server (through python3-gi), i.e. an
RTSP implementation that is not ours, so the recorder is tested against a
server whose behaviour we did not write.

Stream: videotestsrc (is-live, pattern=ball) + timeoverlay, encoded as H.264
(x264enc, one slice per frame) or H.265 (x265enc) with a fixed GOP, no B-frames,
zerolatency, RTP payload type 96 with parameter sets repeated in-band before
every keyframe (config-interval=-1). Optional audio from audiotestsrc (is-live): AAC 48 kHz
mono (rtpmp4gpay, pt 97), G.711 mu-law / A-law 8 kHz mono (rtppcmupay pt 0 /
rtppcmapay pt 8, 20 ms per buffer) or Opus 48 kHz (rtpopuspay, pt 98). The media factory is
shared: all clients see the same pipeline. TCP-interleaved and UDP unicast transports are
allowed (--udp-only: UDP only, SETUP over TCP is answered 461). For the conformance corpus
(test_21): --profile, --bframes, --open-gop, --vfr (frames dropped at random before the
encoder), --no-rtcp. For picture health (test_132): --pattern ball (the default above), moving
(colour bars scrolling, with the time overlay), black (black frames) or frozen (still colour
bars, the same raw frame every time, no overlay; smpte100, as videotestsrc's smpte pattern has a
patch of noise); --then PATTERN --after SECONDS switches the picture of the running stream
once, SECONDS after the media was first built.

Readiness (one line on stdout, flushed, once the socket is listening):
    gst_rtsp: serving rtsp://LISTEN:PORT/PATH

--stats FILE is rewritten atomically (temp file + os.replace) every second and
at exit:
    {"video_frames": N, "audio_frames": N, "clients": N,
     "first_frame_wallclock": float or null, "first_frame_capture": float or null,
     "keyframes": [[PTS, WALL], ...], "clients_now": N, "playing": N}
  video_frames  encoded video buffers entering the video payloader (= frames
                leaving the encoder), counted only while at least one client
                is playing (has sent PLAY and not PAUSE/TEARDOWN/disconnected).
  audio_frames  the same for encoded audio buffers (AAC: 1024 samples each,
                ~46.9/s; PCMU/PCMA: 160 samples each, 50/s).
  clients       RTSP connections accepted since start (cumulative; a bare
                ffprobe DESCRIBE counts as one).
  first_frame_wallclock  time.time() of the first counted video frame.
  first_frame_capture  the first frame's wall clock less the least delay any later
                frame showed against its PTS: the first frame as captured, not as
                stamped by a probe that waited for the CPU.
  keyframes     every keyframe, counted or not (a client's first keyframe can reach the
                payloader just before its PLAY is counted): its PTS in seconds after the first
                counted frame's (so first_frame_capture + PTS is when it was captured) and the
                time.time() it reached the payloader (when it was sent: later than captured
                when the encoder fell behind, as a software encoder on a loaded machine does).
  clients_now   RTSP connections open right now.
  playing       connections currently playing.

Stops on SIGTERM/SIGINT and by itself after --duration seconds (exit 0).
Exit 1 on runtime failure (e.g. port in use), 2 on bad usage.
"""

import json
import os
import signal
import sys
import tempfile
import threading
import time

from peerlib import peer_args, peer_parser

PROG = "gst_rtsp"


def die(msg, code=1):
    sys.stderr.write("%s: error: %s\n" % (PROG, msg))
    sys.stderr.flush()
    os._exit(code)


def parse_args(argv):
    p = peer_parser(PROG, __doc__)
    p.add_argument("--listen", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--path", default="/cam", help="mount path, starts with / (default /cam)")
    p.add_argument("--codec", choices=("h264", "h265"), default="h264")
    p.add_argument("--audio", choices=("none", "aac", "pcmu", "pcma", "opus"), default="none")
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--gop", type=int, default=50, help="keyframe interval in frames")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--bframes", type=int, default=0,
                   help="H.264 B-frames between references (default 0, as cameras do)")
    p.add_argument("--profile", choices=("baseline", "main", "high"),
                   help="H.264 profile (default: the encoder's choice)")
    p.add_argument("--open-gop", action="store_true",
                   help="H.264 open GOPs (needs --bframes): B-frames after a keyframe refer "
                        "to the GOP before")
    p.add_argument("--vfr", action="store_true",
                   help="variable frame rate: about one frame in five dropped at random")
    p.add_argument("--no-rtcp", action="store_true", help="send no RTCP")
    p.add_argument("--udp-only", action="store_true",
                   help="refuse RTP over TCP (SETUP answered 461), as VLC and some cameras do")
    p.add_argument("--user", help="require this user (with --password)")
    p.add_argument("--password", help="the user's password")
    p.add_argument("--auth", choices=("basic", "digest"), default="digest",
                   help="authentication method offered with --user (default digest)")
    p.add_argument("--stats", metavar="FILE", help="write JSON counters here")
    p.add_argument("--pattern", choices=sorted(PATTERNS), default="ball",
                   help="the picture (default ball)")
    p.add_argument("--then", choices=sorted(PATTERNS), help="switch to this picture ...")
    p.add_argument("--after", type=float, help="... this many seconds after the media starts")
    a = peer_args(p, argv)
    if not a.path.startswith("/") or len(a.path) < 2 or any(c.isspace() for c in a.path):
        p.error("--path must start with / and contain no spaces, e.g. /cam")
    if not 1 <= a.fps <= 240:
        p.error("--fps must be 1..240")
    if not 1 <= a.gop <= 10000:
        p.error("--gop must be 1..10000")
    for name in ("width", "height"):
        v = getattr(a, name)
        if not 16 <= v <= 7680 or v % 2:
            p.error("--%s must be even and 16..7680" % name)
    if not 0 <= a.bframes <= 4 or (a.bframes and a.codec != "h264"):
        p.error("--bframes must be 0..4, and only with --codec h264")
    if (a.profile or a.open_gop) and a.codec != "h264":
        p.error("--profile and --open-gop go with --codec h264")
    if a.open_gop and not a.bframes:
        p.error("--open-gop needs --bframes")
    if a.profile == "baseline" and a.bframes:
        p.error("--profile baseline has no B-frames")
    if bool(a.then) != (a.after is not None) or (a.after is not None and a.after <= 0):
        p.error("--then and --after (seconds, > 0) go together")
    if bool(a.user) != bool(a.password):
        p.error("--user and --password go together")
    return a


# --pattern: videotestsrc's pattern and horizontal-speed, and whether the time overlay shows.
PATTERNS = {"ball": ("ball", 0, True), "moving": ("smpte100", 4, True),
            "black": ("black", 0, False), "frozen": ("smpte100", 0, False)}


def set_pattern(bin_, name):
    from gi.repository import Gst
    pattern, speed, overlay = PATTERNS[name]
    src = bin_.get_by_name("vsrc")
    Gst.util_set_object_arg(src, "pattern", pattern)
    src.set_property("horizontal-speed", speed)
    bin_.get_by_name("clock").set_property("silent", not overlay)


def launch_string(a):
    """gst-launch description of the media; payloaders are pay0 (video) and pay1 (audio)."""
    video = ("videotestsrc name=vsrc is-live=true pattern=ball "
             "! video/x-raw,width={w},height={h},framerate={fps}/1 "
             "! timeoverlay name=clock font-desc=\"Sans 24\" ! videoconvert ! video/x-raw,format=I420 ! ")
    if a.vfr:
        video += "identity drop-probability=0.2 ! "
    if a.codec == "h264":
        # zerolatency and ultrafast forbid B-frames; with --bframes the encoder runs without them
        video += ("x264enc name=venc {tune} bframes={bf} b-adapt=false "
                  "key-int-max={gop} sliced-threads=false threads=1 {opengop}"
                  "! video/x-h264,stream-format=byte-stream,alignment=au{profile} "
                  "! rtph264pay name=pay0 pt=96 config-interval=-1")
    else:
        video += ("x265enc name=venc tune=zerolatency speed-preset=ultrafast key-int-max={gop} "
                  "option-string=\"keyint={gop}:min-keyint={gop}:bframes=0\" "
                  "! video/x-h265,stream-format=byte-stream,alignment=au "
                  "! rtph265pay name=pay0 pt=96 config-interval=-1")
    video = video.format(w=a.width, h=a.height, fps=a.fps, gop=a.gop, bf=a.bframes,
                         tune="speed-preset=superfast" if a.bframes
                         else "tune=zerolatency speed-preset=ultrafast",
                         profile=",profile=" + (a.profile or "main") if a.bframes or a.profile
                         else "",
                         opengop="option-string=\"open-gop=1\" " if a.open_gop else "")
    if a.audio == "none":
        audio = ""
    elif a.audio == "opus":
        audio = (" audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=960 "
                 "! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 "
                 "! opusenc name=aenc ! rtpopuspay name=pay1 pt=98")
    elif a.audio == "aac":
        enc = "avenc_aac" if have_element("avenc_aac") else "voaacenc"
        audio = (" audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=1024 "
                 "! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 "
                 "! %s name=aenc bitrate=64000 ! rtpmp4gpay name=pay1 pt=97" % enc)
    else:
        enc, pay, pt = (("mulawenc", "rtppcmupay", 0) if a.audio == "pcmu"
                        else ("alawenc", "rtppcmapay", 8))
        audio = (" audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=160 "
                 "! audioconvert ! audioresample ! audio/x-raw,rate=8000,channels=1 "
                 "! %s name=aenc ! %s name=pay1 pt=%d" % (enc, pay, pt))
    return "( " + video + audio + " )"


def have_element(name):
    from gi.repository import Gst
    return Gst.ElementFactory.find(name) is not None


class Stats:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.video = 0
        self.audio = 0
        self.clients = 0
        self.clients_now = 0
        self.conns = {}  # client -> playing? (holding the wrapper keeps identity stable)
        self.nplaying = 0
        self.first = None
        self.first_pts = None
        self.capture = None
        self.keyframes = []

    def note_capture(self, pts):
        """Called with the lock held for a counted video buffer (pts in ns or None): the first
        frame's wall clock, and the estimate of its capture time that the least delay of all
        frames since gives (a frame's stamp here is late by however long it waited for CPU)."""
        now = time.time()
        if self.first is None:
            self.first, self.first_pts, self.capture = now, pts, now
        elif pts is not None and self.first_pts is not None:
            self.capture = min(self.capture, now - (pts - self.first_pts) / 1e9)

    def note_keyframe(self, pts):
        """Called with the lock held for every video keyframe (pts in ns)."""
        self.keyframes.append((pts, time.time()))

    def snapshot(self):
        with self.lock:
            return {"video_frames": self.video, "audio_frames": self.audio,
                    "clients": self.clients, "first_frame_wallclock": self.first,
                    "first_frame_capture": self.capture,
                    "keyframes": [[(pts - self.first_pts) / 1e9, wall]
                                  for pts, wall in self.keyframes if self.first_pts is not None],
                    "clients_now": self.clients_now, "playing": self.nplaying}

    def write(self):
        if not self.path:
            return
        data = json.dumps(self.snapshot()) + "\n"
        d = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=".gst_rtsp_stats.", dir=d)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(data)
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def main(argv):
    a = parse_args(argv)
    try:
        import gi
        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtsp", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
    except (ImportError, ValueError) as e:
        die("python3-gi with GStreamer/GstRtspServer 1.0 is needed: %s" % e)
    Gst.init(None)

    launch = launch_string(a)
    # Build the pipeline once now so a missing plugin fails here, not at first client.
    try:
        Gst.parse_launch(launch.strip("() ")).set_state(Gst.State.NULL)
    except GLib.Error as e:
        die("cannot build pipeline: %s" % e.message)

    stats = Stats(a.stats)
    if a.stats:
        try:
            stats.write()
        except OSError as e:
            die("cannot write --stats %s: %s" % (a.stats, e.strerror or e))

    def count(kind):
        def probe(pad, info):
            t = info.type
            n = 0
            buf = None
            if t & Gst.PadProbeType.BUFFER:
                n, buf = 1, info.get_buffer()
            elif t & Gst.PadProbeType.BUFFER_LIST:
                lst = info.get_buffer_list()
                n = lst.length() if lst is not None else 0
                buf = lst.get(0) if n else None
            pts = buf.pts if buf is not None and buf.pts != Gst.CLOCK_TIME_NONE else None
            if n:
                with stats.lock:
                    if kind == "v" and pts is not None and \
                            not buf.has_flags(Gst.BufferFlags.DELTA_UNIT):
                        stats.note_keyframe(pts)
                    if stats.nplaying:
                        if kind == "v":
                            stats.video += n
                            stats.note_capture(pts)
                        else:
                            stats.audio += n
            return Gst.PadProbeReturn.OK
        return probe

    def on_media_configure(factory, media):
        bin_ = media.get_element()
        set_pattern(bin_, a.pattern)
        if a.then:
            GLib.timeout_add(int(a.after * 1000), lambda: set_pattern(bin_, a.then) and False)
        for name, kind in (("pay0", "v"), ("pay1", "a")):
            el = bin_.get_by_name(name)
            if el is None:
                continue
            el.get_static_pad("sink").add_probe(
                Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, count(kind))

    def set_playing(client, on):
        with stats.lock:
            if client in stats.conns:
                stats.conns[client] = on
            stats.nplaying = sum(stats.conns.values())

    def on_play(client, ctx):
        set_playing(client, True)

    def on_stop(client, ctx):
        set_playing(client, False)

    def on_closed(client):
        with stats.lock:
            if stats.conns.pop(client, None) is not None:
                stats.clients_now -= 1
            stats.nplaying = sum(stats.conns.values())

    def on_client(server, client):
        with stats.lock:
            stats.clients += 1
            stats.clients_now += 1
            stats.conns[client] = False
        client.connect("play-request", on_play)
        client.connect("pause-request", on_stop)
        client.connect("teardown-request", on_stop)
        client.connect("closed", on_closed)

    server = GstRtspServer.RTSPServer()
    server.set_address(a.listen)
    server.set_service(str(a.port))
    server.set_backlog(64)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP if a.udp_only
                          else GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    if a.no_rtcp:
        factory.set_enable_rtcp(False)
    factory.connect("media-configure", on_media_configure)
    if a.user:
        # Only this user may see the stream; the server challenges with the chosen method.
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        if a.auth == "basic":
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        else:
            auth.add_digest(a.user, a.password, token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_role_from_structure(Gst.Structure.new_from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
        factory.set_permissions(perms)
    server.get_mount_points().add_factory(a.path, factory)
    server.connect("client-connected", on_client)

    try:
        # create_source binds with allow_reuse (SO_REUSEADDR), so a restart on the
        # same port works at once even with old connections in TIME_WAIT.
        source = server.create_source(None)
    except GLib.Error as e:
        die("cannot listen on %s:%d: %s" % (a.listen, a.port, e.message))
    source.attach(None)
    port = server.get_bound_port()

    loop = GLib.MainLoop()

    def stop(*_):
        loop.quit()
        return GLib.SOURCE_REMOVE

    def tick():
        # Drop sessions whose clients vanished (UDP clients without TEARDOWN).
        server.get_session_pool().cleanup()
        try:
            stats.write()
        except OSError as e:
            sys.stderr.write("%s: warning: cannot write stats: %s\n" % (PROG, e))
        return GLib.SOURCE_CONTINUE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, stop)
    GLib.timeout_add(int(a.duration * 1000), stop)
    GLib.timeout_add(1000, tick)

    sys.stdout.write("%s: serving rtsp://%s:%d%s\n" % (PROG, a.listen, port, a.path))
    sys.stdout.flush()
    loop.run()

    try:
        stats.write()
    except OSError as e:
        die("cannot write stats: %s" % e)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: streaming threads may still call into probes.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
