"""Issue 14, downward: camvault as the platform of a GB/T 28181-2016 device.

The device here is written from the standard (GB/T 28181-2016 sections 9.1 registration,
9.6 keepalive, 9.5 Catalog, 9.2 real-time streaming; annex C's PS over RTP; ISO/IEC 13818-1
section 2.5 for the program stream) and RFC 3261 / RFC 2617, not from camvault's code: a SIP/UDP
endpoint on 127.0.0.1 that REGISTERs with its password (answering the 401 Digest challenge),
sends a Keepalive MESSAGE every second, answers the Catalog query, answers INVITE with 200 and
an SDP, and after the ACK sends an H.264 + G.711 A-law program stream (packed here: pack header,
system header and PSM before each keyframe, PES) in RTP packets of payload type 96.

- the device's camera records: segments decode with ffprobe, audio (pcm_alaw) is kept;
- the device drops off for 15 s (no keepalive, no media): one gap whose reason names the device
  and the cause; it registers again and recording resumes with a new INVITE;
- a wrong password and an unknown device: 403 and one clear log line each; nothing crashes;
- the password is never shown (camera show, --json, the log).
"""
import json
import re
import socket
import struct
import subprocess
import threading
import time

from conftest import CAMVAULT, cv, free_port, query, start_recorder, wait_for
from test_140_gb28181 import SipStream, auth_params, md5, parse_sip  # the platform's SIP reading

GB_ID = "34020000002000000001"   # camvault: a platform (type 200)
REALM = "3402000000"
DEV = "34020000001110000001"     # the device: a DVR/IPC (type 111)
CHANNEL = "34020000001320000001"  # its camera channel (type 132)
PASSWORD = "dev-pa55:word"
FPS = 25


# ---- an H.264 + G.711 program stream (ISO/IEC 13818-1 section 2.5) ----

def crc32_mpeg(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def pack_header(scr):
    b = bytes([0x44 | ((scr >> 27) & 0x38) | ((scr >> 28) & 0x03), (scr >> 20) & 0xFF,
               ((scr >> 12) & 0xF8) | 0x04 | ((scr >> 13) & 0x03), (scr >> 5) & 0xFF,
               ((scr << 3) & 0xF8) | 0x04, 0x01])
    rate = 6106
    return b"\x00\x00\x01\xba" + b + bytes([(rate >> 14) & 0xFF, (rate >> 6) & 0xFF,
                                             ((rate << 2) & 0xFC) | 3, 0xF8])


def system_header():
    body = bytes([0x80, 0x5F, 0x69, 0x04 | 0x01 << 2, 0xE1, 0xFF,
                  0xE0, 0xE0, 0x80, 0xC0, 0xC0, 0x08])
    return b"\x00\x00\x01\xbb" + struct.pack(">H", len(body)) + body


def psm(audio_type=0x90):
    es = bytes([0x1B, 0xE0, 0, 0, audio_type, 0xC0, 0, 0])
    body = bytes([0x80, 0x01]) + struct.pack(">H", 0) + struct.pack(">H", len(es)) + es
    unit = b"\x00\x00\x01\xbc" + struct.pack(">H", len(body) + 4) + body
    return unit + struct.pack(">I", crc32_mpeg(unit))


def pts_bytes(pts):
    return bytes([0x21 | ((pts >> 29) & 0x0E), (pts >> 22) & 0xFF, ((pts >> 14) & 0xFE) | 1,
                  (pts >> 7) & 0xFF, ((pts << 1) & 0xFE) | 1])


def pes(stream_id, payload, pts):
    out = b""
    first = True
    while payload or first:
        chunk, payload = payload[:60000], payload[60000:]
        hdr = bytes([0x80, 0x80, 5]) + pts_bytes(pts) if first else bytes([0x80, 0, 0])
        out += b"\x00\x00\x01" + bytes([stream_id]) + struct.pack(">H", len(hdr) + len(chunk)) + hdr + chunk
        first = False
    return out


def access_units(es):
    """H.264 Annex B into access units (a slice or parameter set after a slice starts one)."""
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", es)]
    nals = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(es)
        nal = es[s + 3:e].rstrip(b"\x00")
        if nal:
            nals.append(nal)
    aus, cur, has_slice = [], [], False
    for nal in nals:
        t = nal[0] & 0x1F
        if has_slice and (t in (1, 5) and nal[1] & 0x80 or t in (6, 7, 8, 9)):
            aus.append(cur)
            cur, has_slice = [], False
        cur.append(nal)
        has_slice = has_slice or t in (1, 5)
    if cur:
        aus.append(cur)
    return [(b"".join(b"\x00\x00\x00\x01" + n for n in au), any(n[0] & 0x1F == 5 for n in au))
            for au in aus]


def make_media(tmp_path):
    v, a = tmp_path / "v.h264", tmp_path / "a.alaw"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x240:rate={FPS}", "-t", "4", "-c:v", "libx264", "-g", "25",
                    "-bf", "0", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "h264", str(v)],
                   check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=8000", "-t", "4", "-c:a", "pcm_alaw",
                    "-f", "alaw", str(a)], check=True)
    return access_units(v.read_bytes()), a.read_bytes()


def make_aac(tmp_path):
    """4 s of AAC-LC at 16 kHz as ADTS frames (each 1024 samples)."""
    a = tmp_path / "a.aac"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=16000", "-t", "4", "-c:a", "aac", "-f", "adts",
                    str(a)], check=True)
    data, frames = a.read_bytes(), []
    while len(data) >= 7:
        n = ((data[3] & 3) << 11) | (data[4] << 3) | (data[5] >> 5)
        frames.append(data[:n])
        data = data[n:]
    return frames


# ---- the device ----

class Device:
    """tcp: SIP over one TCP connection to camvault's gb_listen (RFC 3261 section 18.3 framing),
    made at start(); else over UDP."""

    def __init__(self, sip_port, media, device=DEV, password=PASSWORD, aac=None, tcp=False):
        self.tcp = tcp
        self.cv = ("127.0.0.1", sip_port)
        if tcp:
            self.sock = socket.create_connection(self.cv, timeout=5)
            self.sip = SipStream(self.sock)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.vias = []            # the top Via of each request camvault sent
        self.device, self.password = device, password
        self.aus, self.audio = media
        self.aac = aac            # ADTS frames to send instead of G.711 (PSM type 0x0F)
        self.cseq = 0
        self.call_id = f"reg{time.time_ns()}"
        self.status = []          # status codes of the answers to our REGISTERs
        self.registered = False
        self.invites, self.acks, self.byes, self.catalog_queries = [], [], [], []
        self.keepalive_answers = 0
        self.silent = False       # the device is away: nothing sent, nothing answered
        self.stream = None        # (host, port, ssrc) once ACKed
        self.stop = False
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.media_t = threading.Thread(target=self.send_media, daemon=True)

    def send(self, text):
        if self.tcp:
            self.sip.send(text.encode("latin-1"))
        else:
            self.sock.sendto(text.encode("latin-1"), self.cv)

    def receive(self):
        """The next message, or None after 0.1 s."""
        if self.tcp:
            try:
                return self.sip.recv_msg()
            except (EOFError, OSError):
                return None
        try:
            return self.sock.recvfrom(65536)[0]
        except socket.timeout:
            return None

    def request(self, method, extra="", body="", ctype=None, call_id=None):
        self.cseq += 1
        ct = f"Content-Type: {ctype}\r\n" if ctype else ""
        self.send(f"{method} sip:{GB_ID}@{REALM} SIP/2.0\r\n"
                  f"Via: SIP/2.0/{'TCP' if self.tcp else 'UDP'} 127.0.0.1:{self.port};rport;"
                  f"branch=z9hG4bK{time.time_ns()}\r\n"
                  f"From: <sip:{self.device}@{REALM}>;tag=dev1\r\nTo: <sip:{self.device}@{REALM}>\r\n"
                  f"Call-ID: {call_id or self.call_id}\r\nCSeq: {self.cseq} {method}\r\n"
                  f"Max-Forwards: 70\r\n{extra}{ct}Content-Length: {len(body)}\r\n\r\n{body}")

    def register(self, auth=""):
        self.request("REGISTER", f"Contact: <sip:{self.device}@127.0.0.1:{self.port}>\r\n"
                     f"Expires: 3600\r\n{auth}")

    def answer(self, first, hdrs, status, extra="", body=""):
        via = "".join(f"Via: {v}\r\n" for v in hdrs["via"])
        to = hdrs["to"][0] + ("" if "tag=" in hdrs["to"][0] else ";tag=dev2")
        ct = "Content-Type: APPLICATION/SDP\r\n" if body else ""
        self.send(f"SIP/2.0 {status}\r\n{via}From: {hdrs['from'][0]}\r\nTo: {to}\r\n"
                  f"Call-ID: {hdrs['call-id'][0]}\r\nCSeq: {hdrs['cseq'][0]}\r\n{extra}{ct}"
                  f"Content-Length: {len(body)}\r\n\r\n{body}")

    def on_response(self, first, hdrs):
        code = int(first.split()[1])
        if "REGISTER" not in hdrs["cseq"][0]:
            return
        self.status.append(code)
        if code == 401:
            ch = auth_params(hdrs["www-authenticate"][0])
            uri = f"sip:{GB_ID}@{REALM}"
            ha1 = md5(f"{self.device}:{ch['realm']}:{self.password}")
            ha2 = md5(f"REGISTER:{uri}")
            cnonce = "0a4f113b"
            resp = md5(f"{ha1}:{ch['nonce']}:00000001:{cnonce}:auth:{ha2}")
            self.register(f'Authorization: Digest username="{self.device}", realm="{ch["realm"]}", '
                          f'nonce="{ch["nonce"]}", uri="{uri}", response="{resp}", '
                          f'algorithm=MD5, qop=auth, nc=00000001, cnonce="{cnonce}"\r\n')
        elif code == 200:
            self.registered = True

    def on_request(self, first, hdrs, body):
        method = first.split()[0]
        self.vias.append(hdrs["via"][0])
        if method == "MESSAGE":
            self.answer(first, hdrs, "200 OK")
            if "<CmdType>Catalog</CmdType>" in body:
                self.catalog_queries.append(body)
                sn = re.search(r"<SN>(\d+)</SN>", body).group(1)
                xml = ('<?xml version="1.0" encoding="GB2312"?>\r\n<Response>\r\n'
                       f"<CmdType>Catalog</CmdType>\r\n<SN>{sn}</SN>\r\n<DeviceID>{self.device}</DeviceID>\r\n"
                       "<SumNum>1</SumNum>\r\n<DeviceList Num=\"1\">\r\n<Item>\r\n"
                       f"<DeviceID>{CHANNEL}</DeviceID>\r\n<Name>gate</Name>\r\n<Status>ON</Status>\r\n"
                       "</Item>\r\n</DeviceList>\r\n</Response>\r\n")
                self.request("MESSAGE", body=xml, ctype="Application/MANSCDP+xml",
                             call_id=f"cat{time.time_ns()}")
        elif method == "INVITE":
            self.invites.append((first, body))
            host = re.search(r"c=IN IP4 (\S+)", body).group(1)
            port = int(re.search(r"m=video (\d+)", body).group(1))
            ssrc = re.search(r"y=(\d+)", body).group(1)
            sdp = (f"v=0\r\no={CHANNEL} 0 0 IN IP4 127.0.0.1\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\n"
                   f"t=0 0\r\nm=video 15060 RTP/AVP 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\n"
                   f"y={ssrc}\r\n")
            self.pending = (host, port, int(ssrc))
            self.answer(first, hdrs, "200 OK", f"Contact: <sip:{CHANNEL}@127.0.0.1:{self.port}>\r\n", sdp)
        elif method == "ACK":
            self.acks.append(first)
            with self.lock:
                self.stream = self.pending
        elif method == "BYE":
            self.byes.append(first)
            with self.lock:
                self.stream = None
            self.answer(first, hdrs, "200 OK")

    def run(self):
        next_ka = next_reg = 0
        while not self.stop:
            # as a device does: REGISTER again every second until answered (403 ends it)
            if (not self.registered and not self.silent and 403 not in self.status
                    and time.time() >= next_reg):
                next_reg = time.time() + 1
                self.register()
            if self.registered and not self.silent and time.time() >= next_ka:
                next_ka = time.time() + 1
                self.request("MESSAGE", body=('<?xml version="1.0" encoding="GB2312"?>\r\n<Notify>\r\n'
                                              "<CmdType>Keepalive</CmdType>\r\n<SN>1</SN>\r\n"
                                              f"<DeviceID>{self.device}</DeviceID>\r\n<Status>OK</Status>\r\n"
                                              "</Notify>\r\n"),
                             ctype="Application/MANSCDP+xml", call_id=f"ka{time.time_ns()}")
            data = self.receive()
            if data is None:
                continue
            if self.silent:
                continue
            first, hdrs, body = parse_sip(data)
            if first.startswith("SIP/2.0"):
                if "MESSAGE" in hdrs["cseq"][0] and first.split()[1] == "200":
                    self.keepalive_answers += 1
                self.on_response(first, hdrs)
            else:
                self.on_request(first, hdrs, body)

    def send_media(self):
        """PS over RTP: one pack per video frame (with 40 ms of G.711), paced at 25 fps."""
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        seq, i, t0, sent = 0, 0, time.time(), 0
        while not self.stop:
            with self.lock:
                dest = None if self.silent else self.stream
            if dest is None:
                time.sleep(0.02)
                t0, sent, i = time.time(), 0, 0  # a new stream starts at a keyframe
                aac_t, k = t0 - self.epoch, 0
                continue
            au, key = self.aus[i % len(self.aus)]
            pts = 90000 + int((time.time() - self.epoch) * 90000)
            unit = pack_header(pts - 3600)
            if key:
                unit += system_header() + psm(0x0F if self.aac else 0x90)
            unit += pes(0xE0, au, pts)
            if self.aac:  # every ADTS frame whose time has come, in one PES
                adts, first = b"", None
                while aac_t <= time.time() - self.epoch:
                    first = first if first is not None else 90000 + int(aac_t * 90000)
                    adts += self.aac[k % len(self.aac)]
                    k, aac_t = k + 1, aac_t + 1024 / 16000
                if adts:
                    unit += pes(0xC0, adts, first)
            else:
                a0 = (sent * 320) % max(1, len(self.audio) - 320)
                unit += pes(0xC0, self.audio[a0:a0 + 320], pts)
            for off in range(0, len(unit), 1400):
                last = off + 1400 >= len(unit)
                hdr = struct.pack(">BBHII", 0x80, 96 | (0x80 if last else 0), seq & 0xFFFF,
                                  pts & 0xFFFFFFFF, dest[2])
                rtp.sendto(hdr + unit[off:off + 1400], (dest[0], dest[1]))
                seq += 1
            i += 1
            sent += 1
            delay = t0 + sent / FPS - time.time()
            if delay > 0:
                time.sleep(delay)
        rtp.close()

    def start(self):
        self.epoch = time.time()
        self.t.start()
        self.media_t.start()

    def close(self):
        if self.stop:
            return
        self.stop = True
        if self.t.is_alive():
            self.t.join(5)
        if self.media_t.is_alive():
            self.media_t.join(5)
        self.sock.close()


def write_conf(root, sip_port):
    (root / "camvault.conf").write_text(
        f"gb_id = {GB_ID}\ngb_realm = {REALM}\ngb_listen = 127.0.0.1:{sip_port}\ngb_keepalive = 1\n")


def show(root, cid):
    return cv("camera", "show", cid, root=root).stdout


def gb_camera_recorder(root, tmp_path, procs):
    """Camera 'gate' of device DEV (PASSWORD) and a recorder with 3-s segments and gb_listen on
    a free port: (that port, the recorder)."""
    sip_port = free_port()
    write_conf(root, sip_port)
    r = subprocess.run([str(CAMVAULT), "camera", "add", "--root", str(root), "gate", "--gb-device", DEV,
                        "--gb-password-stdin"], input=PASSWORD + "\n", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return sip_port, start_recorder(procs, root, tmp_path, segment=3)


def probed_segments(root, cid):
    """(segment, {codec_type: ffprobe stream}) of each segment of camera cid, frames counted;
    each must read without an error."""
    out = []
    for s in query(root, cid)["segments"]:
        p = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json",
                            str(root / s["path"])], capture_output=True, text=True)
        assert p.returncode == 0 and not p.stderr.strip(), (s["path"], p.stderr)
        out.append((s, {x["codec_type"]: x for x in json.loads(p.stdout)["streams"]}))
    return out


def test_gb_device_recorded_with_drop(root, tmp_path, procs):
    media = make_media(tmp_path)
    sip_port = free_port()
    write_conf(root, sip_port)
    r = subprocess.run([str(CAMVAULT), "camera", "add", "--root", str(root),
                        "gate", "--gb-device", DEV, "--gb-password-stdin", "--name", "Gate"],
                       input=PASSWORD + "\n", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"gb device:      {DEV}" in show(root, "gate")
    rec = start_recorder(procs, root, tmp_path, segment=3)

    # an unknown device and a wrong password: 403 and one line each
    stranger = Device(sip_port, media, device="34020000001110000099")
    wrong = Device(sip_port, media, password="not-it")
    dev = Device(sip_port, media)
    try:
        stranger.start()
        wrong.start()
        wait_for(lambda: 403 in stranger.status and 403 in wrong.status, 15,
                 what="403 for the unknown device and the wrong password")
        log = rec.logfile.read_text()
        assert re.search(r"REGISTER from unknown device '34020000001110000099' at 127\.0\.0\.1:\d+ "
                         r"refused", log), log
        assert re.search(rf"device {DEV} \(camera 'gate'\) at 127\.0\.0\.1:\d+: wrong password", log), log
        assert not wrong.registered and not stranger.registered
        stranger.close()
        wrong.close()

        dev.start()
        wait_for(lambda: dev.registered, 10, what="the device registered")
        wait_for(lambda: dev.catalog_queries, 10, what="the Catalog query")
        wait_for(lambda: dev.acks, 20, what="the INVITE answered and ACKed")
        first, sdp = dev.invites[0]
        assert first.startswith(f"INVITE sip:{CHANNEL}@"), first  # the Catalog's channel
        assert "a=recvonly" in sdp and "PS/90000" in sdp and re.search(r"y=\d{10}", sdp), sdp
        wait_for(lambda: len(query(root, "gate")["segments"]) >= 2, 30, what="two segments")
        assert "registered, streaming" in show(root, "gate")

        # the device drops off for 15 s: no keepalive, no media
        dev.silent = True
        t_down = time.time()
        time.sleep(15)
        dev.silent = False
        dev.registered = False  # it registers again
        wait_for(lambda: dev.registered, 10, what="the device registered again")
        wait_for(lambda: len(dev.acks) >= 2, 30, what="a new INVITE after the drop")
        wait_for(lambda: any(s["start_us"] / 1e6 > t_down + 15 for s in query(root, "gate")["segments"]),
                 30, what="a segment after the drop")
        # 10 s in all before stopping (a loaded machine may index the first segments late)
        wait_for(lambda: sum(s["frames"] for s in query(root, "gate")["segments"]) >= 10 * FPS, 30,
                 what="10 s of frames indexed")
        assert rec.running()
        rec.close()
        wait_for(lambda: dev.byes, 10, what="BYE when the recorder stops")
    finally:
        for d in (dev, stranger, wrong):
            d.close()

    q = query(root, "gate")
    gaps = q["gaps"]
    assert len(gaps) == 1, gaps
    g = gaps[0]
    assert g["reason"] == "camera-offline", g
    assert f"GB device {DEV}" in g["detail"] and "keepalives missed" in g["detail"], g
    length = (g["end_us"] - g["start_us"]) / 1e6
    assert 12.0 <= length <= 15.0 + 12.0, g
    assert len({s["run_id"] for s in q["segments"]}) == 2
    assert sum(s["frames"] for s in q["segments"]) >= 10 * FPS, q["segments"]

    for s, streams in probed_segments(root, "gate"):
        assert streams["video"]["codec_name"] == "h264", streams
        assert streams["video"]["width"] == 320
        assert int(streams["video"]["nb_read_frames"]) == s["frames"] > 0, s
        assert streams["audio"]["codec_name"] == "pcm_alaw", streams  # audio kept

    # the password is shown nowhere
    assert PASSWORD not in show(root, "gate")
    assert PASSWORD not in cv("camera", "list", "--json", root=root).stdout
    assert PASSWORD not in rec.logfile.read_text()


def test_gb_device_cli(root):
    """--gb-device needs its password on stdin; edit changes it; no output ever holds it."""
    def add(*args, stdin=""):
        return subprocess.run([str(CAMVAULT), "camera", *args[:1], "--root", str(root), *args[1:]],
                              input=stdin, capture_output=True, text=True)

    r = add("add", "gate", "--gb-device", DEV)
    assert r.returncode == 2 and "--gb-device needs --gb-password-stdin" in r.stderr, r.stderr
    r = add("add", "gate", "--gb-device", "3402", "--gb-password-stdin", stdin="x\n")
    assert r.returncode == 2 and "bad --gb-device '3402'" in r.stderr, r.stderr
    r = add("add", "gate", "--gb-device", DEV, "--gb-password-stdin", stdin="\n")
    assert r.returncode == 2 and "the device password must be" in r.stderr, r.stderr
    assert add("add", "gate", "--gb-device", DEV, "--gb-password-stdin", stdin=PASSWORD + "\n").returncode == 0
    assert f"gb device:      {DEV} (not streaming: never registered)" in show(root, "gate")
    cv("camera", "add", "rtsp", "--url", "rtsp://127.0.0.1:1/x", root=root)
    r = add("edit", "rtsp", "--gb-password-stdin", stdin="new\n")
    assert r.returncode == 2 and "the camera is not a GB/T 28181 device's" in r.stderr, r.stderr
    r = add("edit", "gate", "--gb-password-stdin", stdin="n3w-secret\n")
    assert r.returncode == 0, r.stderr
    cams = {c["id"]: c for c in json.loads(cv("camera", "list", "--json", root=root).stdout)}
    assert cams["gate"]["url"] == f"gb28181://{DEV}:***@device", cams["gate"]
    out = show(root, "gate") + cv("camera", "list", "--json", root=root).stdout + \
        cv("audit", "--json", root=root, check=False).stdout
    assert PASSWORD not in out and "n3w-secret" not in out


def test_gb_device_aac(root, tmp_path, procs):
    """A device whose PSM declares AAC (0x0F, ADTS in PES): the audio is kept as AAC."""
    media, aac = make_media(tmp_path), make_aac(tmp_path)
    sip_port, rec = gb_camera_recorder(root, tmp_path, procs)
    dev = Device(sip_port, media, aac=aac)
    try:
        dev.start()
        wait_for(lambda: len(query(root, "gate")["segments"]) >= 2, 40, what="two segments")
        rec.close()
    finally:
        dev.close()
    for s, streams in probed_segments(root, "gate"):
        assert streams["audio"]["codec_name"] == "aac", streams
        assert streams["audio"]["sample_rate"] == "16000", streams
        assert int(streams["audio"]["nb_read_frames"]) > 0, streams


def test_gb_device_over_tcp(root, tmp_path, procs):
    """A device that speaks SIP over TCP to gb_listen: it registers with its password on its
    connection, and camvault's Catalog query, INVITE, ACK and BYE come back on that connection
    (Via SIP/2.0/TCP); the camera records."""
    media = make_media(tmp_path)
    sip_port, rec = gb_camera_recorder(root, tmp_path, procs)
    wait_for(lambda: "listening on 127.0.0.1" in rec.logfile.read_text(), 20, what="the agent")
    dev = Device(sip_port, media, tcp=True)
    try:
        dev.start()
        wait_for(lambda: dev.registered, 10, what="the device registered over TCP")
        assert dev.status[:2] == [401, 200], dev.status
        wait_for(lambda: dev.catalog_queries, 10, what="the Catalog query on the connection")
        wait_for(lambda: dev.acks, 20, what="the INVITE answered and ACKed on the connection")
        assert dev.invites[0][0].startswith(f"INVITE sip:{CHANNEL}@"), dev.invites[0][0]
        assert len(dev.invites) == 1, "no INVITE retransmission over TCP"
        wait_for(lambda: len(query(root, "gate")["segments"]) >= 2, 30, what="two segments")
        assert "registered, streaming" in show(root, "gate")
        assert dev.keepalive_answers >= 2
        rec.close()
        wait_for(lambda: dev.byes, 10, what="BYE on the connection when the recorder stops")
    finally:
        dev.close()
    assert dev.vias and all(v.startswith("SIP/2.0/TCP ") for v in dev.vias), dev.vias
    assert re.search(rf"device {DEV} \(camera 'gate'\) registered from 127\.0\.0\.1:{dev.port} ",
                     rec.logfile.read_text())
    segments = probed_segments(root, "gate")
    assert len(segments) >= 2
    for s, streams in segments:
        assert streams["video"]["codec_name"] == "h264", streams
        assert int(streams["video"]["nb_read_frames"]) == s["frames"] > 0, s
        assert streams["audio"]["codec_name"] == "pcm_alaw", streams
