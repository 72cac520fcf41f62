"""Issue 4: RFC 3161 time stamps on checkpoints, from a local time-stamp authority made of
`openssl ts -reply` behind a small HTTP responder (the same exchange a public TSA speaks).

Checkpoints carry the TSA's token in the ledger; exports carry it and the TSA's CA; verify
checks each token against its checkpoint and the CA, and so does stock `openssl ts -verify`.
A TSA that is down costs the stamp, never the checkpoint."""
import base64
import http.server
import subprocess
import threading
import zipfile

from conftest import cv, export_verify, free_port, query, start_camsim, start_recorder, wait_for
from test_91_export_trust import forge, verify_fails


def openssl(*args, cwd):
    return subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True,
                          capture_output=True)


def make_tsa(d):
    d.mkdir()
    (d / "tsa.ext").write_text("basicConstraints=critical,CA:FALSE\n"
                               "keyUsage=critical,digitalSignature\n"
                               "extendedKeyUsage=critical,timeStamping\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj",
            "/CN=Test Time Authority CA", "-addext", "basicConstraints=critical,CA:TRUE", cwd=d)
    openssl("req", "-new", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj",
            "/CN=Test Time Stamping Unit", cwd=d)
    openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "tsa.pem", "-days", "1000", "-extfile", "tsa.ext", cwd=d)
    (d / "serial").write_text("01\n")
    (d / "tsa.cnf").write_text(f"""[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {d}
serial = $dir/serial
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
""")
    return d


class TSA:
    """RFC 3161 over HTTP on 127.0.0.1: each POSTed query answered by `openssl ts -reply`."""

    def __init__(self, d):
        self.d, self.requests = d, 0
        lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    outer.requests += 1
                    (d / "q.tsq").write_bytes(body)
                    r = subprocess.run(["openssl", "ts", "-reply", "-config", d / "tsa.cnf",
                                        "-queryfile", d / "q.tsq", "-out", d / "r.tsr"],
                                       capture_output=True)
                    reply = (d / "r.tsr").read_bytes() if r.returncode == 0 else b""
                self.send_response(200 if reply else 500)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def blocks(log):
    return [b for b in log.split("\n\n") if b.strip()]


def test_checkpoints_are_time_stamped_and_verified(root, tmp_path, procs):
    d = make_tsa(tmp_path / "tsa")
    tsa = TSA(d)
    try:
        (root / "camvault.conf").write_text(f"tsa_url = http://127.0.0.1:{tsa.port}/tsa\n")
        (root / "keys" / "tsa.pem").write_bytes((d / "ca.pem").read_bytes())
        sim = start_camsim(procs, tmp_path, cameras=1, name="cam")
        cv("camera", "add", "square", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
        rec = start_recorder(procs, root, tmp_path, segment=2,
                             extra=["--checkpoint-interval", "1"])
        wait_for(lambda: len(query(root, "square")["segments"]) >= 3, 40, what="three segments")
        assert rec.close() == 0
    finally:
        tsa.close()
    assert tsa.requests >= 3
    ledger = blocks((root / "ledger" / "checkpoints.log").read_text())
    assert ledger and all("\ntimestamp " in b for b in ledger), ledger[:2]

    # Stock openssl checks a token against its checkpoint with the TSA's CA.
    b = ledger[0]
    stamped, tok = b.split("timestamp ", 1)
    (tmp_path / "block.txt").write_text(stamped)
    (tmp_path / "token.der").write_bytes(base64.b64decode(tok.strip()))
    r = openssl("ts", "-verify", "-data", tmp_path / "block.txt", "-in", tmp_path / "token.der",
                "-token_in", "-CAfile", d / "ca.pem", cwd=tmp_path)
    assert b"Verification: OK" in r.stdout, r.stdout + r.stderr

    q = query(root, "square")
    out = tmp_path / "stamped.zip"
    r = export_verify(root, "square", q["segments"], "TSA-1", out)
    assert r.returncode == 0, r.stdout
    assert "ok timestamp: integrity/checkpoints.log block 1: time-stamped at" in r.stdout
    assert "Test Time Stamping Unit" in r.stdout and "chains to certs/tsa.pem" in r.stdout

    # A token moved to another checkpoint (re-signed with the site key) no longer matches.
    def edit(files):
        log = files["integrity/checkpoints.log"].decode()
        text, tok = log.split("timestamp ", 1)
        text = text.replace("\nseq ", "\nseq 9", 1)  # the stamped text is not what was stamped
        files["integrity/checkpoints.log"] = (text + "timestamp " + tok).encode()

    bad = tmp_path / "moved.zip"
    forge(out, bad, root, tmp_path, edit)
    _, fails = verify_fails(bad)
    assert any(l.startswith("FAIL timestamp: integrity/checkpoints.log block 1") for l in fails), \
        fails

    # The TSA is gone: checkpoints go on, unstamped, and the recorder says why.
    n = len(ledger)
    rec = start_recorder(procs, root, tmp_path, segment=2, name="no-tsa",
                         extra=["--checkpoint-interval", "1"])
    wait_for(lambda: len(blocks((root / "ledger" / "checkpoints.log").read_text())) >= n + 2, 40,
             what="checkpoints without the TSA")
    assert rec.close() == 0
    assert "checkpoint not time-stamped" in rec.logfile.read_text()
    assert "\ntimestamp " not in blocks((root / "ledger" / "checkpoints.log").read_text())[-1]
