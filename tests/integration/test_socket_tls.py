"""Socket Mode over wss:// (TLS) with the real haink-api.

A small Slack stand-in here serves apps.connections.open over HTTP and a TLS
WebSocket endpoint with certificates from a test CA (made with openssl, as
test_tls.py does for Redis). The API trusts that CA through SSL_CERT_FILE (the
OpenSSL default store it uses). The tests check that the connection works when
the chain and the host name are right, and is refused when the host name does
not match the certificate or the CA is not trusted: civetweb's own client would
have accepted both, which is why the API has its own WebSocket client.
"""
import base64
import hashlib
import json
import os
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_tls import make_pki  # noqa: E402

from haink import Stack, request, wait_until  # noqa: E402

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class TlsSlack:
    """apps.connections.open on HTTP, hands out wss://<host>:<port>/link/ served with cert."""

    def __init__(self, pki, cert, host):
        self.upgrades = 0
        self.acks = []
        self.stop = False
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki[cert + ".crt"], pki[cert + ".key"])
        self.ctx = ctx
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.lsock.settimeout(0.2)
        self.wss_port = self.lsock.getsockname()[1]
        url = "wss://%s:%d/link/?ticket=t1" % (host, self.wss_port)

        class Open(BaseHTTPRequestHandler):
            def do_POST(h):
                h.rfile.read(int(h.headers.get("Content-Length") or 0))
                body = json.dumps({"ok": True, "url": url}).encode()
                h.send_response(200)
                h.send_header("Content-Type", "application/json")
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(body)

            def log_message(h, *a):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Open)
        self.threads = [threading.Thread(target=self.http.serve_forever, daemon=True),
                        threading.Thread(target=self.accept_loop, daemon=True)]
        for t in self.threads:
            t.start()

    @property
    def api_url(self):
        return "http://127.0.0.1:%d/api" % self.http.server_address[1]

    def accept_loop(self):
        while not self.stop:
            try:
                raw, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.serve, args=(raw,), daemon=True).start()

    def serve(self, raw):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()  # the client refused our certificate
            return
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    return
                head += chunk
            key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
                   if l.lower().startswith(b"sec-websocket-key:")][0]
            accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
            # the head and a 256-byte hello in one write: the frame's length bytes
            # (0x7e 0x01 0x00) hold a NUL right behind the head
            hello = json.dumps({"type": "hello", "num_connections": 1,
                                "debug_info": {"pad": ""}}).encode()
            hello = hello.replace(b'"pad": ""', b'"pad": "' + b"x" * (256 - len(hello)) + b'"')
            assert len(hello) == 256
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                      + bytes([0x81, 126, 1, 0]) + hello)
            self.upgrades += 1
            s.settimeout(0.2)
            while not self.stop:
                try:
                    if not s.recv(4096):
                        return
                except socket.timeout:
                    continue
        except (OSError, IndexError):
            pass
        finally:
            s.close()

    def close(self):
        self.stop = True
        self.http.shutdown()
        self.http.server_close()
        self.lsock.close()


def run(cert, host, trust_ca=True):
    """Starts the API against a TlsSlack; returns (ready, upgrades, api output)."""
    with Stack() as st:
        st.redis()
        pki = make_pki(st.tmp)
        fake = TlsSlack(pki, cert, host)
        try:
            env = {"SLACK_APP_TOKEN": "xapp-1-A1-1-tls", "SLACK_API_URL": fake.api_url,
                   "SLACK_SOCKET_CONNECTIONS": 1}
            if trust_ca:
                env["SSL_CERT_FILE"] = pki["ca.crt"]
            api = st.api(**env)

            def ready():
                return request("127.0.0.1", api.port, "GET", "/readyz", timeout=2)[0] == 200
            if trust_ca and cert == "server":
                wait_until(ready, 15, "/readyz 200 over wss://")
                return True, fake.upgrades, api.output()
            wait_until(lambda: api.output().count("socket mode connect failed") >= 2, 15,
                       "two refused connection attempts")
            return ready(), fake.upgrades, api.output()
        finally:
            fake.close()


def test_wss_with_a_trusted_certificate_for_the_host_connects():
    ready, upgrades, _ = run("server", "localhost")
    assert ready and upgrades >= 1


def test_wss_to_an_address_checks_the_certificate_ip_entry():
    ready, upgrades, _ = run("server", "127.0.0.1")
    assert ready and upgrades >= 1


def test_wss_refuses_a_certificate_for_another_host():
    ready, upgrades, out = run("wrong", "localhost")
    assert not ready and upgrades == 0
    assert "certificate rejected" in out and "hostname mismatch" in out, out[-1500:]


def test_wss_refuses_an_untrusted_ca():
    ready, upgrades, out = run("server", "localhost", trust_ca=False)
    assert not ready and upgrades == 0
    assert "certificate rejected" in out, out[-1500:]
