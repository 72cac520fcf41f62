"""live.mp4 latency against a camera that is not ours (gst-rtsp-server, 25 fps, 2-s GOP).

The recorder writes every GOP fragment as CMAF chunks (prft + moof + mdat of ~200 ms); the
server sends each chunk as soon as it is complete in the growing file. For every chunk that
arrives, latency = the client's clock when the chunk's mdat has fully arrived minus the wall
clock of its first sample (the chunk's prft: its media time on the recorder's clock through the
smallest receive delay seen, recorder/camera.c; client and recorder share this host's clock).

Asserted: every moof comes with a prft, fragments (keyframe to keyframe) arrive as several
chunks, the stream starts at a keyframe, and the median is under 1 s (a correctness bound, not
a speed test: whole-GOP fragments measure ~2.2 s; chunks ~0.3 s). The figures are printed.
"""
import http.client
import statistics
import struct
import sys

from conftest import REPO, boxes_end, cv, start_gst, start_recorder, top_boxes, wait_for
from httpapi import add_user, logged_in, start_server

sys.path.insert(0, str(REPO / "tests" / "bench"))
from benchlib import prft_wall, read_live  # noqa: E402


def first_sample_is_key(moof):
    """Whether the video traf's first sample is a sync sample (trun first-sample flags)."""
    off = 8
    while off + 8 <= len(moof):
        size, typ = struct.unpack(">I4s", moof[off:off + 8])
        if typ == b"traf":
            t = off + 8
            def_flags = None
            while t + 8 <= off + size:
                bs, bt = struct.unpack(">I4s", moof[t:t + 8])
                vf = struct.unpack(">I", moof[t + 8:t + 12])[0] & 0xffffff
                if bt == b"tfhd":
                    p = t + 16 + (8 if vf & 1 else 0) + (4 if vf & 2 else 0) + \
                        (4 if vf & 8 else 0) + (4 if vf & 0x10 else 0)
                    if vf & 0x20:
                        def_flags = struct.unpack(">I", moof[p:p + 4])[0]
                elif bt == b"trun":
                    p = t + 16 + (4 if vf & 1 else 0)
                    if vf & 4:
                        flags = struct.unpack(">I", moof[p:p + 4])[0]
                    elif vf & 0x400:
                        flags = struct.unpack(">I", moof[p + (4 if vf & 0x100 else 0) +
                                                     (4 if vf & 0x200 else 0):][:4])[0]
                    else:
                        flags = def_flags
                    return not (flags & 0x10000)
                t += bs
            return False
        off += size
    return False


def measure(port, cookie, seconds):
    """Read live.mp4 for `seconds`; returns (latencies, chunks per fragment, first key)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/api/v1/cameras/gate/live.mp4", headers={"Cookie": f"cv_session={cookie}"})
    resp = c.getresponse()
    assert resp.status == 200, resp.read()
    buf, lat, prft, moofs_without_prft = b"", [], None, 0
    chunks, per_frag, first_key = 0, [], None
    for now, data in read_live(resp, seconds):
        buf += data
        got = top_boxes(buf, strict=False)
        for typ, o, size in got:
            if typ == "prft":
                prft = prft_wall(buf, o)
            elif typ == "uuid" and buf[o + 8:o + 24] == b"camvault.fraginf":
                if chunks:
                    per_frag.append(chunks)
                chunks = 0
            elif typ == "moof":
                if prft is None:
                    moofs_without_prft += 1
                if first_key is None:
                    first_key = first_sample_is_key(buf[o:o + size])
                chunks += 1
            elif typ == "mdat" and prft is not None:
                lat.append(now - prft)
                prft = None
        buf = buf[boxes_end(got):]  # keep only the incomplete box
    c.close()
    assert moofs_without_prft == 0, f"{moofs_without_prft} chunks without a prft"
    return lat, per_frag, first_key


def test_live_latency_gst_2s_gop(root, tmp_path, procs):
    gst = start_gst(procs, tmp_path)  # 25 fps, --gop 50: a 2-s GOP
    cv("camera", "add", "gate", "--url", gst.url, root=root)
    add_user(root, "olga", "officer")
    start_recorder(procs, root, tmp_path, segment=60)
    srv = start_server(procs, root, tmp_path)
    u = logged_in(srv.port, "olga")

    def first_fragment():
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.request("GET", "/api/v1/cameras/gate/live.mp4",
                  headers={"Cookie": f"cv_session={u.cookie}"})
        st = c.getresponse().status
        c.close()
        return st == 200
    wait_for(first_fragment, 40, what="live.mp4 answering")

    lat, per_frag, first_key = measure(srv.port, u.cookie, 20)
    assert len(lat) >= 40, f"only {len(lat)} chunks in 20 s"
    assert first_key, "the stream does not start at a keyframe"
    assert per_frag and min(per_frag) > 1, f"fragments came whole, not as chunks: {per_frag}"
    lat.sort()
    med = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(f"\nlive.mp4 latency (gst-rtsp-server, 2-s GOP, {len(lat)} chunks, "
          f"{statistics.mean(per_frag):.1f} chunks per GOP): median {med * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms, min {lat[0] * 1000:.0f} ms")
    assert med < 1.0, f"median latency {med:.3f} s"
