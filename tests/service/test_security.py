"""TLS, mutual TLS, and token reload on SIGHUP."""

import os
import signal
import subprocess

from conftest import Cli, Server, wait_for


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1, a client certificate."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=condense test CA", "-keyout", "ca.key", "-out",
            "ca.pem", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj",
                f"/CN={name}", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem",
                "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                "-extfile", "san.ext", "-out", f"{name}.pem", cwd=d)
    return {k: os.path.join(d, k) for k in
            ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


class TlsCli(Cli):
    def __init__(self, server, pki, client_cert=False):
        super().__init__(server)
        self.flags = ["--tls-ca", pki["ca.pem"]]
        if client_cert:
            self.flags += ["--tls-cert", pki["client.pem"],
                           "--tls-key", pki["client.key"]]

    def run(self, *args, **kwargs):
        return super().run(*self.flags, *args, **kwargs)


def test_tls_and_mutual_tls(workdir, assets):
    pki = make_pki(workdir)
    server = Server(workdir, extra=["--tls-cert", pki["server.pem"],
                                    "--tls-key", pki["server.key"],
                                    "--tls-client-ca", pki["ca.pem"]]).start()
    try:
        # Mutual TLS: a client with a certificate from the CA gets in.
        ok = TlsCli(server, pki, client_cert=True)
        assert ok.json("upload", "model", assets["mlp"])["name"].startswith("models/")
        # Without a client certificate, or in plaintext, it does not.
        no_cert = TlsCli(server, pki).run("list", check=False)
        assert no_cert.returncode == 5, no_cert.stderr
        plain = Cli(server).run("list", check=False)
        assert plain.returncode == 5, plain.stderr
    finally:
        server.stop()


def test_token_file_reloads_on_sighup(workdir):
    tokens = os.path.join(workdir, "tokens")
    old, new = "old-token-0123456789abcdef", "new-token-0123456789abcdef"
    with open(tokens, "w") as f:
        f.write(f"{old} alice\n")
    server = Server(workdir, token_file=tokens).start()
    try:
        assert Cli(server, token=old).run("list").returncode == 0
        refused = Cli(server, token=new).run("list", check=False)
        assert refused.returncode != 0 and "unknown token" in refused.stderr
        with open(tokens, "w") as f:
            f.write(f"{new} alice\n")
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: Cli(server, token=new).run("list", check=False)
                 .returncode == 0, 10, "the new token to work")
        assert Cli(server, token=old).run("list", check=False).returncode != 0
        # A broken file keeps the tokens in force.
        with open(tokens, "w") as f:
            f.write("short alice\n")
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "tokens_reload_failed" in server.log_text(), 10,
                 "the reload error in the log")
        assert Cli(server, token=new).run("list").returncode == 0
        # No token file and a non-loopback address: refused at start.
        bad = subprocess.run([server.proc.args[0], "--data-dir",
                              os.path.join(workdir, "d2"), "--listen",
                              "0.0.0.0:0"], capture_output=True, text=True,
                             timeout=30)
        assert bad.returncode != 0 and "loopback" in bad.stderr
    finally:
        server.stop()
