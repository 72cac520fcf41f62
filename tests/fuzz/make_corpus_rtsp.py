#!/usr/bin/python3
"""Writes the seed corpus of tests/fuzz/fuzz_rtsp.c into tests/fuzz/corpus-rtsp/ (committed;
rerun after changing this file). The first byte of each seed is the target's mode: 0 a session
(what the camera sends), 1 RTP packets (2-byte lengths), 2 text (SDP or URL).

The sessions follow the order of the own client's requests (OPTIONS, DESCRIBE, SETUP video,
SETUP audio, PLAY; CSeq from 1), with the parameter sets of camsim (H.264, AAC) and of
gst-rtsp-server (H.265, PCMU) as the unit tests have them, then interleaved RTP and RTCP.
"""
import base64
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus-rtsp")

H264_SPROP = "Z2QAH6y0AoAt2AiAAAADAIAAABkHjBlQ,aO88sA=="
H265_VPS, H265_SPS, H265_PPS = ("QAEMAf//AWAAAAMAkAAAAwAAAwBdlZgJ",
                                "QgEBAWAAAAMAkAAAAwAAAwBdoAKAgC0WWVmkkyvAQEAAAAMAQAAABkI=",
                                "RAHBcrRiQA==")

SDP_H264 = ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=camsim\r\nt=0 0\r\n"
            "m=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 H264/90000\r\n"
            f"a=fmtp:96 packetization-mode=1; sprop-parameter-sets={H264_SPROP}; "
            "profile-level-id=64001F\r\na=control:streamid=0\r\n"
            "m=audio 0 RTP/AVP 97\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:97 MPEG4-GENERIC/48000/1\r\n"
            "a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;"
            "indexdeltalength=3; config=118856E500\r\na=control:streamid=1\r\n")

SDP_H265 = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=gst\r\nt=0 0\r\na=control:*\r\n"
            "m=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 H265/90000\r\n"
            f"a=framerate:25\r\na=fmtp:96 sprop-vps={H265_VPS};sprop-sps={H265_SPS};"
            f"sprop-pps={H265_PPS}\r\na=control:stream=0\r\n"
            "m=audio 0 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\na=control:stream=1\r\n")


def resp(cseq, headers="", body=b"", status="200 OK"):
    head = f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{headers}"
    if body:
        head += f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def handshake(sdp, first=1, auth=None):
    """OPTIONS, [DESCRIBE -> 401,] DESCRIBE, SETUP x2, PLAY."""
    c = first
    out = resp(c, "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n")
    c += 1
    if auth:
        out += resp(c, f"WWW-Authenticate: {auth}\r\n", status="401 Unauthorized")
        c += 1
    out += resp(c, "Content-Base: rtsp://127.0.0.1/live/\r\n", sdp.encode())
    out += resp(c + 1, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"
                "Session: 12345678;timeout=60\r\n")
    out += resp(c + 2, "Transport: RTP/AVP/TCP;unicast;interleaved=2-3\r\nSession: 12345678\r\n")
    out += resp(c + 3, "Session: 12345678\r\nRange: npt=0.000-\r\n")
    return out


def rtp(pt, seq, ts, payload, marker=False, ssrc=0x1234):
    return struct.pack(">BBHII", 0x80, pt | (0x80 if marker else 0), seq & 0xffff, ts & 0xffffffff,
                       ssrc) + payload


def il(ch, pkt):
    return b"$" + bytes([ch]) + struct.pack(">H", len(pkt)) + pkt


def sr(ssrc, ntp_s, rtp_ts):
    return struct.pack(">BBHIIIIII", 0x80, 200, 6, ssrc, ntp_s, 0, rtp_ts, 10, 1000)


def h264_frames(n=10):
    sps, pps = (base64.b64decode(x) for x in H264_SPROP.split(","))
    pkts, seq = [], 1
    for f in range(n):
        ts = f * 3600
        if f % 5 == 0:  # keyframe: SPS, PPS, IDR in three FU-A parts
            if f == 5:  # the second keyframe's sets in one STAP-A
                stap = b"\x78" + struct.pack(">H", len(sps)) + sps + struct.pack(">H", len(pps)) + pps
                pkts.append(rtp(96, seq, ts, stap)); seq += 1
            else:
                for nal in (sps, pps):
                    pkts.append(rtp(96, seq, ts, nal)); seq += 1
            body = b"\x88\x84\x00" + bytes(range(40, 137))
            pkts.append(rtp(96, seq, ts, b"\x7c\x85" + body[:30])); seq += 1
            pkts.append(rtp(96, seq, ts, b"\x7c\x05" + body[30:60])); seq += 1
            pkts.append(rtp(96, seq, ts, b"\x7c\x45" + body[60:], marker=True)); seq += 1
        else:
            pkts.append(rtp(96, seq, ts, b"\x41\x9a" + bytes([f]) * 40, marker=True)); seq += 1
    return pkts


def aac_packets(n=6):
    pkts = []
    for i in range(n):
        frame = bytes([0x21, 0x10, i]) + b"\x00" * 20
        hdr = struct.pack(">HH", 16, len(frame) << 3)  # AU-headers-length, one AU header
        pkts.append(rtp(97, 100 + i, i * 1024, hdr + frame, marker=True, ssrc=0x5678))
    return pkts


def h265_frames(n=8):
    vps, sps, pps = (base64.b64decode(x) for x in (H265_VPS, H265_SPS, H265_PPS))
    pkts, seq = [], 1
    for f in range(n):
        ts = f * 3600
        if f % 4 == 0:  # AP with VPS/SPS/PPS, then an IDR_W_RADL in FU parts
            ap = b"\x60\x01" + b"".join(struct.pack(">H", len(x)) + x for x in (vps, sps, pps))
            pkts.append(rtp(96, seq, ts, ap)); seq += 1
            body = b"\xaf\x00" + bytes(range(50, 148))
            pkts.append(rtp(96, seq, ts, b"\x62\x01\x93" + body[:50])); seq += 1
            pkts.append(rtp(96, seq, ts, b"\x62\x01\x53" + body[50:], marker=True)); seq += 1
        else:
            pkts.append(rtp(96, seq, ts, b"\x02\x01\xd0" + bytes([f]) * 30, marker=True)); seq += 1
    return pkts


def pcmu_packets(n=5):
    return [rtp(0, 300 + i, i * 160, bytes([0xff - i]) * 160, ssrc=0x9abc) for i in range(n)]


def session_h264():
    out = handshake(SDP_H264)
    out += il(1, sr(0x1234, 3900000000, 0)) + il(3, sr(0x5678, 3900000000, 0))
    v, a = h264_frames(), aac_packets()
    for i, p in enumerate(v):
        out += il(0, p)
        if i % 2 == 0 and a:
            out += il(2, a.pop(0))
    return out


def session_h265():
    out = handshake(SDP_H265)
    v, a = h265_frames(), pcmu_packets()
    for i, p in enumerate(v):
        out += il(0, p)
        if a:
            out += il(2, a.pop(0))
    return out


def session_digest(nonce="6b1f3c2a", realm="camvault fuzz"):
    auth = (f'Digest realm="{realm}", nonce="{nonce}", qop="auth", opaque="0a1b", '
            'algorithm=MD5, stale=FALSE')
    return handshake(SDP_H264, auth=auth) + b"".join(il(0, p) for p in h264_frames(6))


def rtp_mode(pkts):
    return b"".join(struct.pack(">H", len(p)) + p for p in pkts)


def main():
    os.makedirs(OUT, exist_ok=True)
    sps = base64.b64decode(H264_SPROP.split(",")[0])
    bad_rtp = [
        rtp(96, 1, 0, b"\x7c\x05" + b"\x11" * 20),                         # FU-A without start
        rtp(96, 2, 0, b"\x7c\x45" + b"\x12" * 20, marker=True),            # ... and its end
        rtp(96, 3, 3600, b"\x78" + struct.pack(">H", 500) + sps),          # STAP-A length past
        rtp(96, 4, 3600, b"\x78\x00"),                                     # STAP-A cut in a length
        rtp(96, 5, 7200, b"\x60\x01" + struct.pack(">H", 900) + b"\x40\x01"),  # AP length past
        rtp(96, 6, 7200, b"\x62\x01\x13" + b"\x33" * 10),                  # H.265 FU without start
        rtp(97, 7, 0, struct.pack(">H", 0xfff0) + b"\x00\x08" + b"\x21"),  # AU headers past end
        rtp(97, 8, 1024, struct.pack(">HH", 16, 4000 << 3) + b"\x21" * 40),  # AU longer than data
        rtp(97, 9, 2048, struct.pack(">HHH", 32, 8 << 3, 8 << 3) + b"\x21" * 8),  # 2nd AU missing
        bytes([0x90, 96, 0, 10, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff]),  # ext past end
        bytes([0xa0, 96, 0, 11, 0, 0, 0, 0, 0, 0, 0, 1, 0x41, 0xff]),      # padding past start
    ]
    seeds = {
        "session-h264-aac": b"\x00" + session_h264(),
        "session-h265-pcmu": b"\x00" + session_h265(),
        "session-digest": b"\x00" + session_digest(),
        "session-digest-giant": b"\x00" + session_digest(nonce="n" * 6000, realm="r" * 3000),
        "session-basic": b"\x00" + handshake(SDP_H264, auth='Basic realm="cam"')
                         + b"".join(il(0, p) for p in h264_frames(6)),
        "rtp-h264": b"\x01\x00" + rtp_mode(h264_frames(6) + aac_packets(3)),
        "rtp-h265": b"\x01\x00" + rtp_mode(h265_frames(5)),
        "rtp-malformed": b"\x01\x01" + rtp_mode(bad_rtp),
        "text-sdp-h264": b"\x02" + SDP_H264.encode(),
        "text-sdp-h265": b"\x02" + SDP_H265.encode(),
        "text-url": b"\x02" + b"rtsp://us%3Aer:P@ss:w/o%rd#1@[::1]:8554/x?password=a/b#c&ch=1",
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
