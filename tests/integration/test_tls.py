"""TLS to Redis (rediss://) with the real binaries and a real redis-server.

On a build whose hiredis has TLS (trixie's hiredis 1.2; `make check-trixie`
runs this file there with HAINK_EXPECT_TLS=1) the tests make a CA and
certificates with openssl, start redis-server with --tls-port and check that
the certificate chain and the host name are always verified, that the connect
timeout bounds the handshake, and that client certificates work. On a build
without TLS (bookworm's hiredis 0.14) they check that rediss:// and every
REDIS_TLS_* setting are configuration errors that say so.
"""
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

from haink import BIN, REDIS_SERVER, Stack, app_mention, free_port, request, wait_until


def tls_built():
    """The Makefile's own test: hiredis_ssl known to pkg-config."""
    if os.environ.get("HAINK_EXPECT_TLS") == "1":
        return True
    cp = subprocess.run(["pkg-config", "--exists", "hiredis_ssl"], capture_output=True)
    return cp.returncode == 0


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """A CA, server certificates for 127.0.0.1/localhost and for wrong.example, a client cert."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj",
            "/CN=haink test CA", cwd=d)

    def leaf(name, subj, san, ext_usage):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", subj, cwd=d)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            if san:
                f.write("subjectAltName=%s\n" % san)
            f.write("extendedKeyUsage=%s\n" % ext_usage)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile",
                name + ".ext", cwd=d)

    leaf("server", "/CN=redis", "IP:127.0.0.1,DNS:localhost", "serverAuth")
    leaf("wrong", "/CN=wrong.example", "DNS:wrong.example", "serverAuth")
    leaf("client", "/CN=haink-worker", None, "clientAuth")
    return {k: os.path.join(d, k) for k in ("ca.crt", "server.crt", "server.key", "wrong.crt",
                                             "wrong.key", "client.crt", "client.key")}


class TlsRedis:
    def __init__(self, tmp, pki, cert="server", auth_clients="no"):
        self.port = free_port()
        self.dir = os.path.join(tmp, "redis-tls-%d" % self.port)
        os.mkdir(self.dir)
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir,
             "--tls-cert-file", pki[cert + ".crt"], "--tls-key-file", pki[cert + ".key"],
             "--tls-ca-cert-file", pki["ca.crt"], "--tls-auth-clients", auth_clients],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError("redis-server with TLS exited (built without TLS?)")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False
        wait_until(listening, 10, "redis-server --tls-port")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class SilentServer:
    """Accepts TCP connections and never says a word (a TLS handshake hangs)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.done = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.done:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                return

    def stop(self):
        self.done = True
        self.sock.close()
        for c in self.conns:
            c.close()


def doctor(st, url, **env):
    return st.run_worker("doctor", timeout=60, REDIS_URL=url, **env)


# ---------------------------------------------------------------- TLS build


def with_pki(fn):
    def run():
        if not tls_built():
            return
        with Stack() as st:
            if not shutil.which("openssl"):
                raise AssertionError("openssl is needed for the TLS tests")
            fn(st, make_pki(st.tmp))
    run.__name__ = fn.__name__
    return run


@with_pki
def _verified_by_ip_and_by_name(st, pki):
    srv = TlsRedis(st.tmp, pki)
    try:
        for host in ("127.0.0.1", "localhost"):
            code, out, err = doctor(st, "rediss://%s:%d/0" % (host, srv.port),
                                    REDIS_TLS_CA_FILE=pki["ca.crt"])
            assert "ok" in out and "reachable" in out, (host, out, err)
            assert "FAIL  redis" not in out and "cannot reach" not in out, (host, out, err)
    finally:
        srv.stop()


@with_pki
def _wrong_name_fails_closed_naming_both(st, pki):
    srv = TlsRedis(st.tmp, pki, cert="wrong")
    try:
        for host in ("127.0.0.1", "localhost"):
            code, out, err = doctor(st, "rediss://%s:%d/0" % (host, srv.port),
                                    REDIS_TLS_CA_FILE=pki["ca.crt"])
            text = out + err
            assert code == 1, (code, text)
            assert "reachable" not in out, text
            assert "wrong.example" in text and "'%s'" % host in text, text
        # the override names what the certificate lists: then it is accepted
        code, out, err = doctor(st, "rediss://127.0.0.1:%d/0" % srv.port,
                                REDIS_TLS_CA_FILE=pki["ca.crt"],
                                REDIS_TLS_SERVER_NAME="wrong.example")
        assert "reachable" in out, (out, err)
    finally:
        srv.stop()


@with_pki
def _unknown_ca_fails_closed(st, pki):
    srv = TlsRedis(st.tmp, pki)
    try:
        # no REDIS_TLS_CA_FILE: the system store does not know the test CA
        code, out, err = doctor(st, "rediss://127.0.0.1:%d/0" % srv.port)
        text = out + err
        assert code == 1 and "reachable" not in out, text
        assert "cannot verify the certificate" in text and "REDIS_TLS_CA_FILE" in text, text
    finally:
        srv.stop()


@with_pki
def _client_certificates(st, pki):
    srv = TlsRedis(st.tmp, pki, auth_clients="yes")
    try:
        url = "rediss://127.0.0.1:%d/0" % srv.port
        code, out, err = doctor(st, url, REDIS_TLS_CA_FILE=pki["ca.crt"])
        text = out + err
        assert code == 1 and "reachable" not in out, text
        assert "REDIS_TLS_CERT_FILE" in text, text
        code, out, err = doctor(st, url, REDIS_TLS_CA_FILE=pki["ca.crt"],
                                REDIS_TLS_CERT_FILE=pki["client.crt"],
                                REDIS_TLS_KEY_FILE=pki["client.key"])
        assert "reachable" in out, (out, err)
    finally:
        srv.stop()


@with_pki
def _api_enqueues_over_tls(st, pki):
    srv = TlsRedis(st.tmp, pki)
    try:
        api = st.api(REDIS_URL="rediss://localhost:%d/0" % srv.port,
                     REDIS_TLS_CA_FILE=pki["ca.crt"])
        wait_until(lambda: request("127.0.0.1", api.port, "GET", "/readyz", timeout=2)[0] == 200,
                   10, "/readyz over TLS")
        status, _, body = st.post_event(api, app_mention("EvTLS1"))
        assert status == 200, body
        code, out, err = st.run_worker("dlq", "list", REDIS_URL="rediss://localhost:%d/0"
                                       % srv.port, REDIS_TLS_CA_FILE=pki["ca.crt"])
        assert code == 0, (out, err)
    finally:
        srv.stop()


def _silent_server_bounded_by_connect_timeout():
    if not tls_built():
        return
    with Stack() as st:
        silent = SilentServer()
        try:
            url = "rediss://127.0.0.1:%d/0" % silent.port
            # before the fix the handshake had no timeout: doctor hung forever
            t0 = time.monotonic()
            code, out, err = doctor(st, url)
            assert code == 1, (code, out, err)
            assert "timed out" in out + err, (out, err)
            # the API answers SIGTERM while its connections sit in a handshake
            api = st.api(REDIS_URL=url)
            status = request("127.0.0.1", api.port, "GET", "/readyz", timeout=15)[0]
            assert status == 503, status
            api.signal(signal.SIGTERM)
            assert api.wait(timeout=15) is not None
            # the worker logs and keeps retrying instead of hanging silently
            w = st.worker(wait_healthy=False, REDIS_URL=url, LOG_LEVEL="info")
            wait_until(lambda: "timed out" in w.output(), 15, "worker log of the TLS timeout")
            w.signal(signal.SIGTERM)
            assert w.wait(timeout=30) is not None
            assert time.monotonic() - t0 < 55
        finally:
            silent.stop()


def test_tls_verified_by_ip_and_by_name():
    _verified_by_ip_and_by_name()


def test_tls_wrong_name_fails_closed_naming_both():
    _wrong_name_fails_closed_naming_both()


def test_tls_unknown_ca_fails_closed():
    _unknown_ca_fails_closed()


def test_tls_client_certificates():
    _client_certificates()


def test_tls_api_enqueues_over_tls():
    _api_enqueues_over_tls()


def test_tls_silent_server_bounded_by_connect_timeout():
    _silent_server_bounded_by_connect_timeout()


# ------------------------------------------------------- configuration errors


def run_cfg(binary, args, **env):
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SLACK_SIGNING_SECRET": "x"}
    e.update(env)
    cp = subprocess.run([os.path.join(BIN, binary)] + args, env=e, capture_output=True,
                        timeout=20)
    return cp.returncode, cp.stdout.decode() + cp.stderr.decode()


def test_tls_settings_are_validated():
    for binary, args in (("haink-api", ["--print-config"]), ("haink-worker", ["print-config"])):
        if not tls_built():
            code, text = run_cfg(binary, args, REDIS_URL="rediss://127.0.0.1:6380/0")
            assert code == 2 and "REDIS_URL" in text and "TLS" in text, text
            code, text = run_cfg(binary, args, REDIS_TLS_CA_FILE="/etc/hostname")
            assert code == 2 and "REDIS_TLS_CA_FILE: this build has no TLS" in text, text
            continue
        code, text = run_cfg(binary, args, REDIS_URL="rediss://127.0.0.1:6380/0")
        assert code == 0, text
        code, text = run_cfg(binary, args, REDIS_TLS_CA_FILE="/etc/hostname")
        assert code == 2 and "REDIS_TLS_CA_FILE: set, but REDIS_URL is not rediss://" in text, \
            text
        code, text = run_cfg(binary, args, REDIS_URL="rediss://127.0.0.1:6380/0",
                             REDIS_TLS_CERT_FILE="/etc/hostname")
        assert code == 2 and "set both or neither" in text, text
        code, text = run_cfg(binary, args, REDIS_URL="rediss://127.0.0.1:6380/0",
                             REDIS_TLS_CA_FILE="/nonexistent/ca.pem")
        assert code == 2 and "cannot read '/nonexistent/ca.pem'" in text, text


def test_password_with_reserved_characters_says_percent_encode():
    code, text = run_cfg("haink-worker", ["print-config"],
                         REDIS_URL="redis://default:pa/ss@127.0.0.1:6379/0")
    assert code == 2, text
    assert "percent-encode" in text and "bad port" not in text, text
    assert "pa/ss" not in text
