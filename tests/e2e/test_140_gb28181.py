"""Issue 14, upward over UDP: camvault as a lower platform of a GB/T 28181-2016 upper platform.

The upper platform here is written from the standard (GB/T 28181-2016 sections 9.1 registration,
9.6 keepalive, 9.5 queries with annex A's MANSCDP, 9.2 real-time streaming with annex C's
PS over RTP) and RFC 3261 / RFC 2617, not from camvault's code: a UDP SIP endpoint on 127.0.0.1
that challenges REGISTER with a 401 Digest, recomputes the response from the password it knows,
answers keepalives, sends Catalog, DeviceInfo and DeviceStatus queries and INVITEs a channel.

- camvault registers with Digest (qop=auth, and without qop), registers again before the short
  Expires the platform grants, keeps alive every gb_keepalive s and unregisters (Expires: 0)
  when it stops;
- Catalog lists every camera with its channel ID (the one set by --gb-id, the others derived
  from gb_id as docs/gb28181.md says), split over several MESSAGEs with SumNum and Num;
- a wrong password is one clear error line and a retry, nothing crashes; malformed SIP and
  malformed MANSCDP get 400 and the agent goes on answering;
- bad gb_ keys in camvault.conf are one clear error line each.
"""
import hashlib
import json
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import cv, free_port, start_recorder, wait_for

GB_ID = "34020000001180000001"     # this node: type 118 (NVR)
REALM = "3402000000"
PLATFORM = "34020000002000000001"  # the upper platform: type 200
PASSWORD = "s3cret-gb"


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def parse_sip(data):
    """(first line, {lower-case long header name: [values]}, body) of one SIP message."""
    compact = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
               "l": "content-length", "c": "content-type"}
    text = data.decode("latin-1")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        hdrs.setdefault(compact.get(name, name), []).append(value.strip())
    n = int(hdrs.get("content-length", ["0"])[0])
    return lines[0], hdrs, body[:n]


def auth_params(value):
    assert value.startswith("Digest ")
    return {k: v1 or v2 for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', value[7:])}


def xml_text(body, tag):
    return re.findall(rf"<{tag}>([^<]*)</{tag}>", body)


class SipStream:
    """SIP over one TCP connection, framed as RFC 3261 section 18.3 says: the header lines up to
    the empty line, then Content-Length bytes of body; CRLFs between messages are skipped."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def recv_msg(self):
        """One message, or None when nothing complete came within the socket's timeout; raises
        EOFError when the peer closed the connection."""
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", self.buf[:end])
                total = end + 4 + (int(m.group(1)) if m else 0)
                if len(self.buf) >= total:
                    msg, self.buf = self.buf[:total], self.buf[total:]
                    return msg
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not data:
                raise EOFError
            self.buf += data

    def send(self, data):
        self.sock.sendall(data)


class Platform:
    """The upper platform: one UDP socket (or, transport="tcp", a TCP listener that takes the
    connection camvault makes and talks SIP on it), a thread that answers, lists of what it
    saw."""

    def __init__(self, password=PASSWORD, qop=True, expires=3600, transport="udp", port=0):
        self.transport = transport
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if transport == "tcp"
                                  else socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        if transport == "tcp":
            self.sock.listen(4)
        self.stream = None           # TCP: camvault's connection
        self.connections = []        # TCP: the peer address of each connection accepted
        self.via = []                # the Via of each request camvault sent
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.password, self.qop, self.expires = password, qop, expires
        self.registers, self.auth_ok, self.auth_bad, self.keepalives = [], [], [], []
        self.messages, self.responses, self.unregistered = [], [], []
        self.device = None  # camvault's address, from its REGISTER
        self.nonce = "n" + str(time.time_ns())
        self.stop = False
        self.mute = False            # drop everything (the platform is away)
        self.ignore_keepalive = False
        self.cseq = 100
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def close(self):
        self.stop = True
        self.thread.join(5)
        if self.stream is not None:
            self.stream.sock.close()
        self.sock.close()

    def reply(self, hdrs, addr, status, reason, extra="", body=""):
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {v}" for v in hdrs["via"]]
        to = hdrs["to"][0] + ("" if "tag=" in hdrs["to"][0] else ";tag=plat1")
        lines += [f"From: {hdrs['from'][0]}", f"To: {to}", f"Call-ID: {hdrs['call-id'][0]}",
                  f"CSeq: {hdrs['cseq'][0]}"]
        msg = "\r\n".join(lines) + "\r\n" + extra + f"Content-Length: {len(body)}\r\n\r\n" + body
        self.send_to(msg.encode(), addr)

    def send_to(self, data, addr):
        if self.transport == "tcp":
            if self.stream is not None:
                self.stream.send(data)
        else:
            self.sock.sendto(data, addr)

    def drop(self):
        """TCP: close camvault's connection (the platform restarts, say)."""
        stream, self.stream = self.stream, None
        stream.sock.close()

    def receive(self):
        """(data, addr) of the next message, or None after 0.2 s."""
        if self.transport == "udp":
            try:
                return self.sock.recvfrom(65535)
            except socket.timeout:
                return None
        if self.stream is None:
            try:
                conn, addr = self.sock.accept()
            except socket.timeout:
                return None
            conn.settimeout(0.2)
            self.stream, self.peer = SipStream(conn), addr
            self.connections.append(addr)
        stream = self.stream
        try:
            data = stream.recv_msg()
        except (EOFError, OSError):
            if self.stream is stream:
                self.stream = None
            return None
        return (data, self.peer) if data is not None else None

    def on_register(self, hdrs, addr, first):
        uri = first.split()[1]
        expires = int(hdrs.get("expires", ["3600"])[0])
        self.registers.append((time.monotonic(), expires, hdrs))
        auth = hdrs.get("authorization")
        if not auth:
            qop = ', qop="auth"' if self.qop else ""
            self.reply(hdrs, addr, 401, "Unauthorized",
                       f'WWW-Authenticate: Digest realm="{REALM}", nonce="{self.nonce}"'
                       f'{qop}, algorithm=MD5\r\n')
            return
        p = auth_params(auth[0])
        ha1 = md5(f"{p['username']}:{REALM}:{self.password}")
        ha2 = md5(f"REGISTER:{p['uri']}")
        if self.qop:
            want = md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}")
        else:
            want = md5(f"{ha1}:{p['nonce']}:{ha2}")
        if p["response"] != want or p["uri"] != uri or p["username"] != GB_ID:
            self.auth_bad.append(p)
            self.reply(hdrs, addr, 401, "Unauthorized",
                       f'WWW-Authenticate: Digest realm="{REALM}", nonce="{self.nonce}x"\r\n')
            return
        self.auth_ok.append(p)
        if expires == 0:
            self.unregistered.append(time.monotonic())
        self.device = addr
        self.reply(hdrs, addr, 200, "OK", f"Expires: {min(expires, self.expires)}\r\n")

    def on_message(self, hdrs, addr, body):
        if "<CmdType>Keepalive</CmdType>" in body:
            self.keepalives.append(time.monotonic())
            if not self.ignore_keepalive:
                self.reply(hdrs, addr, 200, "OK")
        else:
            self.reply(hdrs, addr, 200, "OK")
            self.messages.append(body)

    def run(self):
        while not self.stop:
            try:
                got = self.receive()
            except OSError:
                return
            if got is None or self.mute:
                continue
            data, addr = got
            first, hdrs, body = parse_sip(data)
            if not first.startswith("SIP/2.0"):
                self.via.append(hdrs["via"][0])
            if first.startswith("SIP/2.0"):
                self.responses.append((first, hdrs, body))
            elif first.startswith("REGISTER"):
                self.on_register(hdrs, addr, first)
            elif first.startswith("MESSAGE"):
                self.on_message(hdrs, addr, body)

    def send(self, raw):
        self.send_to(raw if isinstance(raw, bytes) else raw.encode(), self.device)

    def request(self, method, to_id, body="", ctype="Application/MANSCDP+xml", extra=""):
        self.cseq += 1
        call = f"call{self.cseq}@127.0.0.1"
        msg = (f"{method} sip:{to_id}@{REALM} SIP/2.0\r\n"
               f"Via: SIP/2.0/{self.transport.upper()} 127.0.0.1:{self.port};rport;"
               f"branch=z9hG4bK{self.cseq}\r\n"
               f"From: <sip:{PLATFORM}@{REALM}>;tag=p{self.cseq}\r\n"
               f"To: <sip:{to_id}@{REALM}>\r\nCall-ID: {call}\r\nCSeq: {self.cseq} {method}\r\n"
               f"Max-Forwards: 70\r\n{extra}"
               + (f"Content-Type: {ctype}\r\n" if body else "")
               + f"Content-Length: {len(body)}\r\n\r\n{body}")
        self.send(msg)
        return call

    def query(self, cmd, device_id, sn, extra_xml=""):
        body = (f'<?xml version="1.0" encoding="GB2312"?>\r\n<Query>\r\n<CmdType>{cmd}</CmdType>'
                f"\r\n<SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n{extra_xml}</Query>\r\n")
        return self.request("MESSAGE", device_id, body)

    def answers(self, cmd, sn):
        return [m for m in self.messages
                if f"<CmdType>{cmd}</CmdType>" in m and f"<SN>{sn}</SN>" in m]

    def response_to(self, call):
        for first, hdrs, body in self.responses:
            if hdrs.get("call-id", [""])[0] == call:
                return first, hdrs, body
        return None


def write_conf(root, platform, sip_port, keepalive=1, password=PASSWORD, extra=""):
    (root / "camvault.conf").write_text(
        f"gb_id = {GB_ID}\ngb_realm = {REALM}\ngb_listen = 127.0.0.1:{sip_port}\n"
        f"gb_upstream = {PLATFORM}@127.0.0.1:{platform.port}\ngb_password = {password}\n"
        f"gb_keepalive = {keepalive}\n{extra}")


def derived(num):
    """The channel ID docs/gb28181.md derives: gb_id's first 10 digits, type 131, gb_id's 14th
    digit, the camera's number as 6 digits."""
    return f"{GB_ID[:10]}131{GB_ID[13]}{num:06d}"


@pytest.fixture
def platform():
    p = Platform()
    yield p
    p.close()


def add_cameras(root, n):
    for i in range(1, n + 1):
        args = ["camera", "add", f"cam{i}", "--url", f"rtsp://127.0.0.1:9/c{i}", "--disabled",
                "--name", f"Gate <{i}>"]
        if i == 2:
            args += ["--gb-id", "34020000001310000777"]
        cv(*args, root=root)


def test_register_keepalive_catalog(root, tmp_path, procs, platform):
    platform.expires = 4  # re-registration within the test: at half of it
    add_cameras(root, 6)
    sip_port = free_port()
    write_conf(root, platform, sip_port)
    rec = start_recorder(procs, root, tmp_path)
    wait_for(lambda: platform.auth_ok, 20, what="a REGISTER with a correct Digest answer")
    first = platform.registers[0][2]
    assert "authorization" not in first and platform.registers[0][1] > 0
    assert not platform.auth_bad
    wait_for(lambda: len(platform.keepalives) >= 2, 20, what="two keepalives")
    wait_for(lambda: len(platform.auth_ok) >= 2, 20, what="a REGISTER before Expires ran out")
    assert platform.device == ("127.0.0.1", sip_port)

    platform.query("Catalog", GB_ID, 11)
    want = {derived(n) for n in (1, 3, 4, 5, 6)} | {"34020000001310000777"}

    def catalog_ids():
        ids = [i for m in platform.answers("Catalog", 11) for i in xml_text(m, "DeviceID")[1:]]
        return ids if set(ids) >= want else None
    ids = wait_for(catalog_ids, 15, what="every camera in the Catalog answers")
    answers = platform.answers("Catalog", 11)
    assert len(answers) >= 2, "6 cameras come in more than one MESSAGE"
    assert all(xml_text(m, "SumNum") == ["6"] for m in answers)
    assert sum(int(re.search(r'<DeviceList Num="(\d+)"', m).group(1)) for m in answers) == 6
    assert sorted(ids) == sorted(want)
    assert "Gate &lt;1&gt;" in "".join(answers)
    shown = cv("camera", "show", "cam3", root=root).stdout
    assert f"gb id:          {derived(3)} (derived from gb_id)" in shown
    assert json.loads(cv("camera", "show", "cam3", "--json", root=root).stdout)["gb_id"] is None
    assert json.loads(cv("camera", "show", "cam2", "--json", root=root).stdout)["gb_id"] == \
        "34020000001310000777"

    platform.query("DeviceInfo", GB_ID, 12)
    info = wait_for(lambda: platform.answers("DeviceInfo", 12), 10, what="DeviceInfo")[0]
    assert xml_text(info, "Result") == ["OK"] and xml_text(info, "Channel") == ["6"]
    platform.query("DeviceStatus", derived(1), 13)
    st = wait_for(lambda: platform.answers("DeviceStatus", 13), 10, what="DeviceStatus")[0]
    assert xml_text(st, "Online") == ["OFFLINE"]  # cam1 is disabled

    rec.close()
    assert rec.p.returncode == 0
    assert platform.unregistered, "camvault unregisters (Expires: 0) when it stops"
    log = rec.logfile.read_text()
    assert PASSWORD not in log and "registered to upstream" in log


def test_no_qop_and_wrong_password(root, tmp_path, procs):
    good = Platform(qop=False)
    bad = Platform(password="not-" + PASSWORD)
    try:
        write_conf(root, good, free_port())
        rec = start_recorder(procs, root, tmp_path, name="good")
        wait_for(lambda: good.auth_ok, 20, what="a Digest answer without qop")
        rec.close()

        write_conf(root, bad, free_port())
        rec = start_recorder(procs, root, tmp_path, name="bad")
        wait_for(lambda: len(bad.auth_bad) >= 2, 30, what="a retry after the refused password")
        log = rec.logfile.read_text()
        lines = [ln for ln in log.splitlines() if "password (gb_password) was refused" in ln]
        assert lines and f"upstream '{PLATFORM}@127.0.0.1:{bad.port}'" in lines[0], log
        assert rec.running()
        assert PASSWORD not in log
    finally:
        good.close()
        bad.close()


def test_malformed_sip_and_xml(root, tmp_path, procs, platform):
    add_cameras(root, 1)
    write_conf(root, platform, free_port())
    rec = start_recorder(procs, root, tmp_path)
    wait_for(lambda: platform.auth_ok, 20, what="registration")

    def status_of(call):
        r = wait_for(lambda: platform.response_to(call), 10, what=f"an answer to {call}")
        return int(r[0].split()[1])
    # a request without CSeq, a bad request line, a Content-Length past the end
    platform.send(f"MESSAGE sip:{GB_ID}@{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;"
                  f"branch=z9hG4bKx1\r\nFrom: <sip:{PLATFORM}@{REALM}>;tag=a\r\nTo: <sip:"
                  f"{GB_ID}@{REALM}>\r\nCall-ID: bad-1\r\nContent-Length: 0\r\n\r\n")
    assert status_of("bad-1") == 400
    platform.send("HELLO\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx2\r\nCall-ID: bad-2\r\n"
                  "CSeq: 1 MESSAGE\r\n\r\n")
    assert status_of("bad-2") == 400
    platform.send(f"MESSAGE sip:{GB_ID}@{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;"
                  f"branch=z9hG4bKx3\r\nf: <sip:{PLATFORM}@{REALM}>;tag=a\r\nt: <sip:"
                  f"{GB_ID}@{REALM}>\r\ni: bad-3\r\nCSeq: 1 MESSAGE\r\nl: 900\r\n\r\n<Query/>")
    assert status_of("bad-3") == 400
    platform.sock.sendto(b"\x00\xff" * 700, platform.device)
    # MANSCDP that is not well formed, then one with an unsupported encoding
    call = platform.request("MESSAGE", GB_ID, "<?xml version=\"1.0\"?><Query><CmdType>Catalog"
                            "</SN></Query>")
    assert status_of(call) == 400
    call = platform.request("MESSAGE", GB_ID, "<?xml version=\"1.0\" encoding=\"EBCDIC\"?>"
                            "<Query><CmdType>Catalog</CmdType></Query>")
    assert status_of(call) == 400
    # OPTIONS is answered
    call = platform.request("OPTIONS", GB_ID)
    assert status_of(call) == 200
    # and the agent still answers, compact header forms included
    platform.query("Catalog", GB_ID, 77)
    wait_for(lambda: platform.answers("Catalog", 77), 10, what="a Catalog after the garbage")
    assert rec.running()
    log = rec.logfile.read_text()
    assert "gb: malformed SIP from 127.0.0.1" in log and "SIP: no CSeq header" in log
    assert "MANSCDP: element 'CmdType' closed by 'SN'" in log


def test_platform_away_and_keepalives_lost(root, tmp_path, procs, platform):
    platform.mute = True
    write_conf(root, platform, free_port())
    rec = start_recorder(procs, root, tmp_path)
    wait_for(lambda: "no answer to REGISTER; registering again in 1 s" in
             rec.logfile.read_text(), 25, what="the REGISTER given up and a backoff")
    n = len(platform.auth_ok)
    platform.mute = False
    wait_for(lambda: len(platform.auth_ok) > n, 20, what="registration once the platform is back")
    calls = {r[2]["call-id"][0] for r in platform.registers}
    platform.ignore_keepalive = True
    wait_for(lambda: "3 keepalives unanswered; registering again" in rec.logfile.read_text(), 20,
             what="3 lost keepalives")
    wait_for(lambda: {r[2]["call-id"][0] for r in platform.registers} - calls, 10,
             what="a new registration after the lost keepalives")
    assert rec.running()


@pytest.mark.parametrize("line,msg", [
    ("gb_id = 1234", "gb_id '1234' is not 20 digits"),
    ("gb_realm = abc", "gb_realm 'abc' is not 10 digits"),
    ("gb_listen = 127.0.0.1", "gb_listen '127.0.0.1' is not ADDR:PORT"),
    ("gb_upstream = 1@127.0.0.1:5060", "gb_upstream '1@127.0.0.1:5060' is not PLATFORM_ID@HOST:PORT"),
    ("gb_keepalive = 0", "gb_keepalive '0' is not a whole number of seconds"),
    ("gb_listen = platform.example:5060", "gb_listen 'platform.example:5060' is not ADDR:PORT"),
    ("gb_transport = sctp", "gb_transport 'sctp' is not udp or tcp"),
])
def test_conf_errors(root, line, msg):
    (root / "camvault.conf").write_text(line + "\n")
    r = cv("record", root=root, check=False, timeout=20)
    assert r.returncode != 0
    assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_conf_needs_listen(root):
    # gb_upstream is optional (only GB devices register then: test_141); gb_listen is not
    (root / "camvault.conf").write_text(f"gb_id = {GB_ID}\ngb_realm = {REALM}\n"
                                        f"gb_upstream = {PLATFORM}@127.0.0.1:5999\ngb_password = x\n")
    r = cv("record", root=root, check=False, timeout=20)
    assert r.returncode != 0 and "gb_id is set but gb_listen is not" in r.stderr
    assert "x\n" not in r.stderr


def test_camera_gb_id(root):
    r = cv("camera", "add", "c1", "--url", "rtsp://127.0.0.1:9/x", "--gb-id", "123", root=root,
           check=False)
    assert r.returncode == 2 and "bad --gb-id '123'" in r.stderr
    cv("camera", "add", "c1", "--url", "rtsp://127.0.0.1:9/x", root=root)
    cv("camera", "edit", "c1", "--gb-id", "34020000001310000009", root=root)
    assert json.loads(cv("camera", "show", "c1", "--json", root=root).stdout)["gb_id"] == \
        "34020000001310000009"


def rtp_receiver():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.5)
    return s


class TcpRtp:
    """RTP over TCP as RFC 4571 frames it (a 16-bit length before each packet), read like a UDP
    socket: recv() gives one packet; the connection is accepted (the platform passive) or made
    (the platform active) on the first recv."""

    def __init__(self, listen=None, connect_to=None):
        self.listen, self.connect_to, self.conn, self.buf = listen, connect_to, None, b""

    def getsockname(self):
        return self.listen.getsockname()

    def _conn(self):
        if self.conn is None:
            if self.listen is not None:
                self.conn = self.listen.accept()[0]
            else:
                self.conn = socket.create_connection(self.connect_to, timeout=5)
            self.conn.settimeout(0.5)
        return self.conn

    def recv(self, _n):
        try:
            conn = self._conn()
        except (socket.timeout, ConnectionRefusedError):
            raise socket.timeout()
        while True:
            if len(self.buf) >= 2 and len(self.buf) >= 2 + (self.buf[0] << 8 | self.buf[1]):
                n = self.buf[0] << 8 | self.buf[1]
                pkt, self.buf = self.buf[2:2 + n], self.buf[2 + n:]
                return pkt
            data = conn.recv(65536)
            if not data:
                raise socket.timeout()
            self.buf += data

    def close(self):
        for s in (self.conn, self.listen):
            if s is not None:
                s.close()


def receive_ps(sock, seconds, ssrc, done=None):
    """RTP packets for `seconds` (from the first one), or until done() holds and nothing more
    comes for a moment: PS bytes in sequence order, and facts."""
    pkts, first, stats = {}, None, {"pt": set(), "ssrc": set(), "marker": 0}
    marks = []
    while first is None or time.monotonic() - first < seconds:
        try:
            data = sock.recv(65535)
        except socket.timeout:
            if first is None and time.monotonic() > getattr(receive_ps, "deadline", 1e18):
                break
            if first is not None and done is not None and done():
                break
            continue
        first = first or time.monotonic()
        v, mpt, seq, ts, ss = data[0] >> 6, data[1], *struct.unpack("!HII", data[2:12])
        assert v == 2
        stats["pt"].add(mpt & 0x7f)
        stats["ssrc"].add(ss)
        stats["marker"] += mpt >> 7
        if mpt >> 7:
            marks.append(seq)
        pkts[seq] = data[12:]
    # up to the end of the last whole access unit (marker bit): the time limit cuts the next
    order = [k for k in sorted(pkts) if marks and k <= max(marks)]  # no wrap in a few seconds
    return b"".join(pkts[k] for k in order), stats


def invite_sdp(name, port, ssrc, t="0 0", setup=None):
    """The platform's offer; setup: None (UDP), "passive" or "active" (RTP over TCP)."""
    proto = "TCP/RTP/AVP" if setup else "RTP/AVP"
    tcp = f"a=setup:{setup}\r\na=connection:new\r\n" if setup else ""
    return (f"v=0\r\no={PLATFORM} 0 0 IN IP4 127.0.0.1\r\ns={name}\r\nc=IN IP4 127.0.0.1\r\n"
            f"t={t}\r\nm=video {port} {proto} 96 97 98\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\n"
            f"a=rtpmap:98 H264/90000\r\na=rtpmap:97 MPEG4/90000\r\n{tcp}y={ssrc}\r\n")


def check_ps(path, fps_frames):
    """ffprobe reads the PS as MPEG-PS with one H.264 stream, about `fps_frames` frames, and
    ffmpeg decodes every frame without an error."""
    r = subprocess.run(["ffprobe", "-v", "error", "-f", "mpeg", "-count_frames", "-show_streams",
                        "-of", "json", str(path)], capture_output=True, text=True, timeout=60,
                       check=True)
    streams = json.loads(r.stdout)["streams"]
    video = [s for s in streams if s["codec_type"] == "video"]
    assert len(video) == 1 and video[0]["codec_name"] == "h264", r.stdout
    assert len([s for s in streams if s["codec_type"] == "audio"]) == 1, r.stdout
    frames = int(video[0]["nb_read_frames"])
    lo, hi = fps_frames
    assert lo <= frames <= hi, f"{frames} frames"
    # FFmpeg's PS reader does not know stream type 0x90 (G.711 of GB/T 28181) and takes that
    # stream for MPEG audio, whose decoder then complains: the video is decoded from a copy
    # without the audio PES packets, the audio checked by g711_bytes()
    video_only = path.with_suffix(".video.ps")
    video_only.write_bytes(ps_without_audio(path.read_bytes()))
    d = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "mpeg", "-i", str(video_only),
                        "-f", "null", "-"], capture_output=True, text=True, timeout=60)
    assert d.returncode == 0 and not d.stderr.strip(), d.stderr
    return frames


def dialog(platform, channel, name, ssrc, t="0 0", setup=None):
    """INVITE (SDP offer), the 200's answer checked, ACK; returns (rtp socket, bye()).
    setup: None for RTP over UDP, "passive" (the platform listens on TCP) or "active" (the
    platform connects to the port of camvault's answer)."""
    if setup == "passive":
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        lst.settimeout(0.5)
        rtp, port = TcpRtp(listen=lst), lst.getsockname()[1]
    elif setup == "active":
        rtp, port = None, 9  # the discard port: this side connects (RFC 4145)
    else:
        rtp = rtp_receiver()
        port = rtp.getsockname()[1]
    call = platform.request("INVITE", channel, invite_sdp(name, port, ssrc, t, setup),
                            ctype="APPLICATION/SDP",
                            extra=f"Subject: {channel}:{ssrc},{PLATFORM}:0\r\n")
    r = wait_for(lambda: platform.response_to(call), 10, what="an answer to INVITE")
    assert r[0].startswith("SIP/2.0 200"), r[0]
    sdp = r[2]
    if setup:
        want = {"passive": "active", "active": "passive"}[setup]
        assert f"a=setup:{want}" in sdp and " TCP/RTP/AVP 96" in sdp, sdp
    if setup == "active":
        rtp = TcpRtp(connect_to=("127.0.0.1", int(re.search(r"m=video (\d+)", sdp).group(1))))
    assert "a=sendonly" in sdp and "PS/90000" in sdp and f"y={ssrc}" in sdp, sdp
    assert f"s={name}" in sdp
    to, cseq = r[1]["to"][0], r[1]["cseq"][0].split()[0]

    def in_dialog(method, n, body=""):
        ctype = "Content-Type: Application/MANSRTSP\r\n" if body else ""
        platform.send(f"{method} sip:{channel}@{REALM} SIP/2.0\r\nVia: SIP/2.0/"
                      f"{platform.transport.upper()} 127.0.0.1:"
                      f"{platform.port};branch=z9hG4bK{method}{n}\r\nFrom: <sip:{PLATFORM}@"
                      f"{REALM}>;tag=p{call[4:7]}\r\nTo: {to}\r\nCall-ID: {call}\r\nCSeq: "
                      f"{n} {method}\r\n{ctype}Content-Length: {len(body)}\r\n\r\n{body}")
    in_dialog("ACK", cseq)
    bye = lambda: in_dialog("BYE", int(cseq) + 9)  # noqa: E731
    n_info = [int(cseq)]

    def info(body):  # MANSRTSP in INFO (GB/T 28181-2016 annex B)
        n_info[0] += 1
        in_dialog("INFO", n_info[0], body)
    bye.info = info
    return rtp, bye


def local_s(text):
    return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))


def ps_units(ps):
    """(start code, bytes) of each unit of a PS: pack headers, system headers, PSMs and PES
    packets, walked by their lengths (ISO/IEC 13818-1 2.5.3); fails on anything else."""
    i = 0
    while i + 6 <= len(ps):
        assert ps[i:i + 3] == b"\x00\x00\x01", f"no start code at {i}"
        code = ps[i + 3]
        size = 14 + (ps[i + 13] & 7) if code == 0xBA else 6 + (ps[i + 4] << 8 | ps[i + 5])
        assert code in (0xBA, 0xBB, 0xBC, 0xE0, 0xC0), hex(code)
        yield code, ps[i:i + size]
        i += size


def ps_without_audio(ps):
    return b"".join(u for code, u in ps_units(ps) if code != 0xC0)


def g711_bytes(ps):
    """Bytes of the audio PES packets' payloads (stream 0xC0)."""
    return sum(len(u) - 9 - u[8] for code, u in ps_units(ps) if code == 0xC0)


def record_gate(tmp_path, procs, platform, conf=""):
    """camsim (H.264, G.711 A-law) recorded as camera 'gate' in 4-s segments by a recorder
    registered to `platform`, once 4 s are recorded: (root, recorder)."""
    from conftest import start_camsim
    root = tmp_path / "root"
    cv("init", root=root)
    sim = start_camsim(procs, tmp_path, cameras=1, name="c", extra=["--audio", "pcma"])
    cv("camera", "add", "gate", "--url", f"rtsp://127.0.0.1:{sim.port}/c1", root=root)
    write_conf(root, platform, free_port(), keepalive=5, extra=conf)
    rec = start_recorder(procs, root, tmp_path, segment=4)
    wait_for(lambda: platform.auth_ok, 20, what="registration")

    def two_fragments():
        st = json.loads(cv("camera", "show", "gate", "--json", root=root).stdout)["status"]
        return st and st["frames"] >= 100
    wait_for(two_fragments, 60, what="the camera recording 4 s")
    return root, rec


def check_live(tmp_path, platform, rec, channel, ssrc):
    """INVITE s=Play, 8 s of PS over RTP/UDP, BYE: ~200 H.264 frames that decode, G.711."""
    rtp, bye = dialog(platform, channel, "Play", ssrc)
    receive_ps.deadline = time.monotonic() + 20
    ps, stats = receive_ps(rtp, 8, ssrc)
    bye()
    rtp.close()
    assert stats["pt"] == {96} and stats["ssrc"] == {int(ssrc)} and stats["marker"] > 150
    assert ps[:4] == b"\x00\x00\x01\xba", "the stream starts with a pack header"
    psm = ps.find(b"\x00\x00\x01\xbc")
    assert psm > 0 and ps[psm + 12] == 0x1B and ps[psm + 13] == 0xE0, "PSM declares H.264"
    assert ps[psm + 16] == 0x90 and ps[psm + 17] == 0xC0, "PSM declares G.711 audio"
    assert 6 * 8000 <= g711_bytes(ps) <= 10 * 8000, "8 s of G.711 at 8000 bytes/s"
    path = tmp_path / f"live-{ssrc}.ps"
    path.write_bytes(ps)
    check_ps(path, (170, 230))  # 8 s at 25 fps
    wait_for(lambda: "ended the stream of camera 'gate' (BYE)" in rec.logfile.read_text(), 10,
             what="the BYE in the log")


def record_info(platform, channel, sn):
    """RecordInfo for the last minute: the indexed segments as items, in local time without a
    zone, sorted (start, end) in seconds."""
    end = time.time()
    fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))  # noqa: E731
    platform.query("RecordInfo", channel, sn, f"<StartTime>{fmt(end - 60)}</StartTime>"
                   f"<EndTime>{fmt(end)}</EndTime><Secrecy>0</Secrecy><Type>all</Type>\r\n")

    def items():
        ans = platform.answers("RecordInfo", sn)
        got = [(local_s(a), local_s(b)) for m in ans for a, b in
               zip(xml_text(m, "StartTime"), xml_text(m, "EndTime"))]
        return got if ans and len(got) == int(xml_text(ans[0], "SumNum")[0]) else None
    spans = sorted(wait_for(items, 10, what="every RecordInfo item"))
    assert all(b - a <= 6 for a, b in spans)  # segments of ~4 s as items
    return spans


def test_live_recordinfo_playback(tmp_path, procs, platform):
    root, rec = record_gate(tmp_path, procs, platform)
    channel = derived(1)
    check_live(tmp_path, platform, rec, channel, "0100000001")
    spans = record_info(platform, channel, 31)
    assert len(spans) >= 3 and spans[-1][1] - spans[0][0] >= 10, spans

    # Playback of an archived 8-s range, at real-time pace, then MediaStatus
    start = int(spans[0][0]) + 1
    rtp, bye = dialog(platform, channel, "Playback", "1100000002", f"{start} {start + 8}",
                      setup="passive")  # RTP over TCP: camvault connects
    t0 = time.monotonic()
    receive_ps.deadline = t0 + 20
    # MANSRTSP: PAUSE after 2 s, PLAY 3 s later: the 8 s take at least 11 s
    pause = threading.Timer(2, bye.info, ["PAUSE MANSRTSP/1.0\r\nCSeq: 1\r\nPauseTime: now\r\n"])
    play = threading.Timer(5, bye.info, ["PLAY MANSRTSP/1.0\r\nCSeq: 2\r\nRange: npt=now-\r\n"])
    pause.start()
    play.start()
    ps, stats = receive_ps(rtp, 30, "1100000002", done=lambda: [
        m for m in platform.messages if "<CmdType>MediaStatus</CmdType>" in m])
    took = time.monotonic() - t0
    pause.join()
    play.join()
    wait_for(lambda: [m for m in platform.messages if "<CmdType>MediaStatus</CmdType>" in m
                      and "<NotifyType>121</NotifyType>" in m], 10,
             what="MediaStatus at the end of the playback")
    bye()
    rtp.close()
    assert stats["ssrc"] == {1100000002}
    assert 6 * 8000 <= g711_bytes(ps) <= 11 * 8000
    path = tmp_path / "playback.ps"
    path.write_bytes(ps)
    check_ps(path, (190, 260))  # 8 s from the keyframe before its start: 200 to 250 frames
    assert took >= 9, f"8 s of footage and a 3-s pause came in {took:.1f} s: not at real-time " \
        "pace, or the PAUSE was not kept"
    log = rec.logfile.read_text()
    assert f"gb: {PLATFORM} paused camera 'gate'" in log and f"gb: {PLATFORM} plays" in log

    # live over TCP, the platform connecting to camvault (a=setup:active), 3 s
    rtp, bye = dialog(platform, channel, "Play", "0100000003", setup="active")
    receive_ps.deadline = time.monotonic() + 20
    ps, stats = receive_ps(rtp, 3, "0100000003")
    bye()
    rtp.close()
    path = tmp_path / "live-tcp.ps"
    path.write_bytes(ps)
    check_ps(path, (50, 100))  # 3 s at 25 fps

    # Download of the same range over TCP: as fast as the platform reads, then MediaStatus
    def statuses():
        return [m for m in platform.messages if "<CmdType>MediaStatus</CmdType>" in m]
    before = len(statuses())
    rtp, bye = dialog(platform, channel, "Download", "1100000004", f"{start} {start + 8}",
                      setup="passive")
    receive_ps.deadline = time.monotonic() + 20
    ps, stats = receive_ps(rtp, 30, "1100000004", done=lambda: len(statuses()) > before)
    bye()
    rtp.close()
    assert len(statuses()) > before
    path = tmp_path / "download.ps"
    path.write_bytes(ps)
    check_ps(path, (190, 260))

    audit = cv("audit", "--json", root=root).stdout
    assert '"gb-live"' in audit and '"gb-playback"' in audit and '"gb-download"' in audit
    cv("audit", "--verify", root=root)  # the records written by the agent keep the chain whole and '"gb-recordinfo"' in audit
    assert PLATFORM in audit
    assert rec.running()


# ---- acceptance 1 over SIP/TCP (gb_transport = tcp; RFC 3261 section 18.3 framing) ----

def test_tcp_register_catalog_live_recordinfo_playback(tmp_path, procs):
    """The same as over UDP, with the platform listening on TCP: camvault connects, registers
    with Digest, keeps alive, answers Catalog, streams live, answers RecordInfo and plays back
    8 s at real-time pace, every SIP message on the one connection with Via SIP/2.0/TCP; when
    the platform drops the connection, one line and camvault connects and registers again."""
    platform = Platform(transport="tcp")
    try:
        root, rec = record_gate(tmp_path, procs, platform, conf="gb_transport = tcp\n")
        add_cameras(root, 5)  # disabled: 6 channels, 2 Catalog MESSAGEs on the stream
        assert "authorization" not in platform.registers[0][2], "the first REGISTER is challenged"
        assert platform.registers[0][2]["contact"][0].endswith(";transport=tcp>")
        assert not platform.auth_bad
        assert len(platform.connections) == 1
        assert platform.via and all(v.startswith("SIP/2.0/TCP ") for v in platform.via), \
            platform.via

        platform.query("Catalog", GB_ID, 11)
        want = {derived(n) for n in (1, 2, 4, 5, 6)} | {"34020000001310000777"}

        def catalog_ids():
            ids = [i for m in platform.answers("Catalog", 11) for i in xml_text(m, "DeviceID")[1:]]
            return ids if set(ids) >= want else None
        assert sorted(wait_for(catalog_ids, 15, what="the Catalog over TCP")) == sorted(want)
        assert len(platform.answers("Catalog", 11)) >= 2

        channel = derived(1)
        check_live(tmp_path, platform, rec, channel, "0100000011")
        spans = record_info(platform, channel, 32)
        assert len(spans) >= 3 and spans[-1][1] - spans[0][0] >= 10, spans
        wait_for(lambda: len(platform.keepalives) >= 2, 20, what="two keepalives over TCP")

        # Playback of an archived 8-s range (RTP over UDP), at real-time pace, then MediaStatus
        start = int(spans[0][0]) + 1
        rtp, bye = dialog(platform, channel, "Playback", "1100000012", f"{start} {start + 8}")
        t0 = time.monotonic()
        receive_ps.deadline = t0 + 20
        # MANSRTSP in INFO on the connection: PLAY at Scale 1 (the pace it has) is answered 200
        threading.Timer(1, bye.info, ["PLAY MANSRTSP/1.0\r\nCSeq: 1\r\nScale: 1.0\r\n"]).start()
        ps, stats = receive_ps(rtp, 30, "1100000012", done=lambda: [
            m for m in platform.messages if "<CmdType>MediaStatus</CmdType>" in m])
        took = time.monotonic() - t0
        bye()
        rtp.close()
        assert stats["ssrc"] == {1100000012}
        assert [r for r in platform.responses if r[1]["cseq"][0].endswith(" INFO")
                and r[0].startswith("SIP/2.0 200")], "INFO answered on the connection"
        path = tmp_path / "playback-tcp.ps"
        path.write_bytes(ps)
        check_ps(path, (190, 260))
        assert took >= 7, f"8 s of footage came in {took:.1f} s: not at real-time pace"
        assert len(platform.connections) == 1, "everything went over the one connection"
        assert all(v.startswith("SIP/2.0/TCP ") for v in platform.via), platform.via

        # the platform drops the connection: one line, a new connection, registered again
        n = len(platform.auth_ok)
        platform.drop()
        wait_for(lambda: len(platform.connections) == 2 and len(platform.auth_ok) > n, 20,
                 what="a new connection and registration after the drop")
        log = rec.logfile.read_text()
        lost = [ln for ln in log.splitlines() if "SIP/TCP connection was closed" in ln]
        assert len(lost) == 1 and f"upstream '{PLATFORM}@127.0.0.1:{platform.port}'" in lost[0] \
            and "connecting again in 1 s" in lost[0], lost
        assert "over TCP" in log and PASSWORD not in log
        rec.close()
        assert rec.p.returncode == 0
        assert platform.unregistered, "Expires: 0 over TCP when the recorder stops"
    finally:
        platform.close()


def test_tcp_platform_away(root, tmp_path, procs):
    """gb_transport = tcp with nobody listening at gb_upstream: one line per refused connect,
    backing off (1 s, then 2 s); once the platform listens, camvault connects and registers."""
    port = free_port()
    (root / "camvault.conf").write_text(
        f"gb_id = {GB_ID}\ngb_realm = {REALM}\ngb_listen = 127.0.0.1:{free_port()}\n"
        f"gb_upstream = {PLATFORM}@127.0.0.1:{port}\ngb_password = {PASSWORD}\n"
        "gb_transport = tcp\n")
    rec = start_recorder(procs, root, tmp_path)
    up = f"gb: upstream '{PLATFORM}@127.0.0.1:{port}': cannot connect over TCP: Connection refused"
    wait_for(lambda: f"{up}; connecting again in 2 s" in rec.logfile.read_text(), 20,
             what="two refused connects")
    assert f"{up}; connecting again in 1 s" in rec.logfile.read_text()
    platform = Platform(transport="tcp", port=port)
    try:
        wait_for(lambda: platform.auth_ok, 20, what="registration once the platform listens")
        assert rec.running()
    finally:
        platform.close()


def sip_conn(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(0.5)
    return s


def closed_by_peer(s, within=15):
    """Whether the peer closes s (EOF) within `within` s, whatever it sent before."""
    until = time.monotonic() + within
    while time.monotonic() < until:
        try:
            if not s.recv(65536):
                return True
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True
    return False


def register_of(device, n, branch):
    return (f"REGISTER sip:{GB_ID}@{REALM} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch="
            f"z9hG4bK{branch}\r\nFrom: <sip:{device}@{REALM}>;tag=t{n}\r\nTo: <sip:{device}@"
            f"{REALM}>\r\nCall-ID: tcp-{branch}\r\nCSeq: {n} REGISTER\r\nExpires: 60\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def test_tcp_hostile(root, tmp_path, procs):
    """SIP over TCP on gb_listen from peers that are not polite: messages cut anywhere and
    several in one segment are framed; bytes that are not SIP, a Content-Length too large or
    missing, a header without end, a peer that sends nothing and one that stops inside a
    message each get one line naming the peer and the cause and lose their connection; the
    65th connection is refused; the agent goes on answering."""
    sip_port = free_port()
    (root / "camvault.conf").write_text(f"gb_id = {GB_ID}\ngb_realm = {REALM}\n"
                                        f"gb_listen = 127.0.0.1:{sip_port}\ngb_keepalive = 5\n")
    rec = start_recorder(procs, root, tmp_path)
    wait_for(lambda: "listening on 127.0.0.1" in rec.logfile.read_text(), 20, what="the agent")
    unknown = "34020000001110000042"

    # two REGISTERs (unknown device: 403 each) in one segment, a third cut in three pieces
    good = sip_conn(sip_port)
    stream = SipStream(good)
    good.sendall(b"\r\n\r\n" + register_of(unknown, 1, "a") + register_of(unknown, 2, "b"))
    third = register_of(unknown, 3, "c")
    for piece in (third[:7], third[7:90], third[90:]):
        good.sendall(piece)
        time.sleep(0.2)
    got = []
    wait_for(lambda: got.append(stream.recv_msg()) or len([g for g in got if g]) >= 3, 10,
             what="three answers on the connection")
    answers = [parse_sip(g) for g in got if g]
    assert [a[0] for a in answers] == ["SIP/2.0 403 Forbidden"] * 3, answers
    assert [a[1]["call-id"][0] for a in answers] == ["tcp-a", "tcp-b", "tcp-c"]
    # a framed message that is not SIP: 400, as over UDP, and the connection stays
    good.sendall(b"HELLO\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKh\r\nCall-ID: tcp-h\r\n"
                 b"CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n" + register_of(unknown, 6, "f"))
    got = []
    wait_for(lambda: got.append(stream.recv_msg()) or len([g for g in got if g]) >= 2, 10,
             what="the 400 and the next answer")
    assert [parse_sip(g)[0] for g in got if g] == ["SIP/2.0 400 Bad Request",
                                                   "SIP/2.0 403 Forbidden"]

    cases = {
        "garbage": b"\x00\xff" * 700,
        "too-big": (f"MESSAGE sip:{GB_ID}@{REALM} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;"
                    f"branch=z9hG4bKbig\r\nContent-Length: 100000\r\n\r\n").encode() + b"x" * 3000,
        "no-length": (f"MESSAGE sip:{GB_ID}@{REALM} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;"
                      f"branch=z9hG4bKnolen\r\nCall-ID: x\r\n\r\n<Query/>").encode(),
        "endless": b"MESSAGE sip:x SIP/2.0\r\n" + b"X-Pad: " + b"a" * 9000,
        "idle": b"",
        "slow": register_of(unknown, 4, "d") + third[:50],
    }
    conns = {}
    for name, data in cases.items():
        conns[name] = sip_conn(sip_port)
        conns[name].sendall(data)
    for name, s in conns.items():
        assert closed_by_peer(s), f"{name}: the connection was not closed"
    log = rec.logfile.read_text()
    want = {
        "garbage": "not SIP: byte 0x00 in the header lines; connection closed",
        "too-big": "Content-Length 100000 too large (a message of at most 8192 bytes); "
                   "connection closed",
        "no-length": "a message without Content-Length (RFC 3261 18.3 requires it on a stream); "
                     "connection closed",
        "endless": "no end of the header lines within 8192 bytes; connection closed",
        "idle": "sent no complete message within 5 s; closed",
        "slow": "a message still incomplete after 5 s (50 bytes); closed",
    }
    for name, s in conns.items():
        port = s.getsockname()[1]
        lines = [ln for ln in log.splitlines() if f"SIP/TCP connection from 127.0.0.1:{port}" in ln
                 or f"SIP/TCP from 127.0.0.1:{port}" in ln]
        assert len(lines) == 1 and want[name] in lines[0], (name, lines)
        s.close()

    good.close()

    # at most 64 connections from peers: one more is refused with a line (and closed)
    many = [sip_conn(sip_port) for _ in range(66)]
    wait_for(lambda: "connections open already" in rec.logfile.read_text(), 10,
             what="the refusal line")
    assert any(closed_by_peer(s, 0.5) for s in many[-3:])
    for s in many:
        s.close()

    # the agent still answers on a new connection
    s = sip_conn(sip_port)
    s.sendall(register_of(unknown, 5, "e"))
    stream = SipStream(s)
    r = wait_for(lambda: stream.recv_msg(), 10, what="an answer after the hostile peers")
    assert parse_sip(r)[0] == "SIP/2.0 403 Forbidden"
    assert rec.running()
    s.close()
