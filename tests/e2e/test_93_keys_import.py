"""Issue 4: `camvault keys import` replaces the site identity with an agency-issued key and
chain (root, intermediate, signing certificate made here with the openssl tool). Footage
recorded and checkpointed before and after the import exports into one package that verifies:
old checkpoints against the retired certificate, the package signature through the agency
chain, with `camvault verify` and with stock openssl. Bad imports change nothing."""
import json
import subprocess
import zipfile

from conftest import cv, export_verify, query, start_camsim, start_recorder, wait_for


def openssl(*args, cwd):
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def agency_ca(d):
    """root -> intermediate -> signing certificate, all ECDSA P-256, as an agency would issue."""
    d.mkdir()
    (d / "ca.ext").write_text("basicConstraints=critical,CA:TRUE\n"
                              "keyUsage=critical,keyCertSign,cRLSign\n")
    (d / "leaf.ext").write_text("basicConstraints=critical,CA:FALSE\n"
                                "keyUsage=critical,digitalSignature,nonRepudiation\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "root.key", "-out", "root.pem", "-days", "3650",
            "-subj", "/CN=County Police Evidence Root", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            cwd=d)
    for name, issuer, ext, cn in (("int", "root", "ca.ext", "County Police Intermediate"),
                                  ("sign", "int", "leaf.ext", "Gate Street Station camvault")):
        openssl("req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
                f"/CN={cn}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey",
                f"{issuer}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "1000",
                "-extfile", ext, cwd=d)
    (d / "chain.pem").write_text((d / "int.pem").read_text() + (d / "root.pem").read_text())
    return d


def fingerprint(root):
    return json.loads(cv("keys", "show", "--json", root=root).stdout)["root"]["fingerprint_sha256"]


def test_import_agency_keys_and_verify_across_the_change(root, tmp_path, procs):
    ca = agency_ca(tmp_path / "ca")
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam")
    cv("camera", "add", "gate", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
    rec = start_recorder(procs, root, tmp_path, segment=2, name="before",
                         extra=["--checkpoint-interval", "1"])
    wait_for(lambda: len(query(root, "gate")["segments"]) >= 3, 40, what="three segments")
    assert rec.close() == 0
    site_fp = fingerprint(root)

    # Bad imports: each one line naming the cause, and the identity unchanged.
    other = tmp_path / "other.key"
    openssl("genpkey", "-algorithm", "ed25519", "-out", other, cwd=tmp_path)
    for key, cert, chain, says in (
            (ca / "int.key", ca / "sign.pem", ca / "chain.pem", "is not the certificate of"),
            (other, ca / "sign.pem", ca / "chain.pem", "Ed25519"),
            (ca / "sign.key", ca / "sign.pem", ca / "root.pem", "does not verify against"),
            (ca / "sign.key", ca / "sign.pem", ca / "int.pem", "self-signed root"),
            (ca / "sign.key", tmp_path / "absent.pem", ca / "chain.pem", "absent.pem")):
        r = cv("keys", "import", "--key", key, "--cert", cert, "--chain", chain, root=root,
               check=False)
        assert r.returncode == 1 and says in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert fingerprint(root) == site_fp
    r = cv("keys", "import", "--key", ca / "sign.key", root=root, check=False)
    assert r.returncode == 2

    r = cv("keys", "import", "--key", ca / "sign.key", "--cert", ca / "sign.pem", "--chain",
           ca / "chain.pem", root=root)
    assert "County Police Evidence Root" in r.stdout
    assert fingerprint(root) != site_fp
    assert not (root / "keys" / "root.key").exists()
    assert oct((root / "keys" / "signing.key").stat().st_mode & 0o777) == "0o600"
    assert len(list((root / "keys" / "retired").glob("*.pem"))) == 2
    assert '"keys-import"' in cv("audit", "--json", root=root).stdout

    n = len(query(root, "gate")["segments"])
    rec = start_recorder(procs, root, tmp_path, segment=2, name="after",
                         extra=["--checkpoint-interval", "1"])
    wait_for(lambda: len(query(root, "gate")["segments"]) >= n + 3, 40,
             what="three segments after the import")
    assert rec.close() == 0

    q = query(root, "gate")
    out = tmp_path / "across.zip"
    r = export_verify(root, "gate", q["segments"], "KEYS-1", out)
    assert r.returncode == 0, r.stdout
    assert "via certs/chain.pem" in r.stdout, r.stdout

    # Footage from before the import is covered by checkpoints signed with the old site key.
    old = tmp_path / "before.zip"
    r = export_verify(root, "gate", q["segments"][0:2], "KEYS-2", old)
    assert r.returncode == 0, r.stdout
    assert "earlier site key certs/retired/" in r.stdout, r.stdout
    with zipfile.ZipFile(out) as z:
        z.extractall(tmp_path / "x")
        top = z.namelist()[0].split("/")[0]
    pkg = tmp_path / "x" / top
    assert (pkg / "certs" / "root.pem").read_text() == (ca / "root.pem").read_text()
    subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
                    "SHA256SUMS.p7s", "-content", "SHA256SUMS", "-CAfile", "certs/root.pem",
                    "-purpose", "any"], cwd=pkg, check=True, capture_output=True)
