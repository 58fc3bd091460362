"""A small headless Chromium driver for the Dev UI's browser tests.

Starts Debian's chromium with --remote-debugging-pipe and speaks the Chrome
DevTools Protocol over that pipe (JSON messages separated by NUL bytes on file
descriptors 3 and 4): no websocket, no npm package, standard library only.

    with Chromium(log_dir) as b:
        b.goto("http://127.0.0.1:8080/ui#token=t")
        b.wait("document.querySelector('.card') !== null", what="the start screen")
        b.click(".example")
        b.screenshot("build/artifacts/ui/start.png")

eval() runs JavaScript in the page and returns its JSON value; wait() polls an
expression until it is truthy (with a deadline); click() and type() go
through real input events at the element's position. Uncaught exceptions and
console errors of the page are collected in .errors.
"""
import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-pipe"]


class CdpError(Exception):
    pass


class Chromium:
    def __init__(self, log_dir, width=1200, height=860):
        self.profile = tempfile.mkdtemp(prefix="haink-chromium-")
        self.errors = []
        self.next_id = 0
        self.buf = b""
        self.session = None
        os.makedirs(log_dir, exist_ok=True)
        self.log = open(os.path.join(log_dir, "chromium.log"), "ab")
        cmd_r, self.cmd_w = os.pipe()  # we write commands, chromium reads them on fd 3
        self.out_r, out_w = os.pipe()  # chromium writes replies on fd 4
        # above 9, so moving them to 3 and 4 in the child never closes one of them (bash runs
        # the redirections: dash takes single-digit descriptors only)
        cmd_r, out_w = [self._high(fd) for fd in (cmd_r, out_w)]
        shell = 'exec "$0" "$@" 3<&%d 4>&%d %d<&- %d>&-' % (cmd_r, out_w, cmd_r, out_w)
        argv = ["/bin/bash", "-c", shell, CHROMIUM] + FLAGS + [
            "--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height),
            "about:blank"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, pass_fds=(cmd_r, out_w))
        os.close(cmd_r)
        os.close(out_w)
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"}, browser=True,
                               timeout=60)["targetId"]
            self.session = self.send("Target.attachToTarget",
                                     {"targetId": target, "flatten": True},
                                     browser=True)["sessionId"]
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.viewport(width, height)
        except Exception:
            self.close()
            raise

    @staticmethod
    def _high(fd):
        high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
        os.close(fd)
        return high

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.send("Browser.close", browser=True, timeout=5)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fd in (self.cmd_w, self.out_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    # --- the protocol -------------------------------------------------------

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError("timed out waiting for chromium")
            ready, _, _ = select.select([self.out_r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.out_r, 1 << 16)
            if not chunk:
                raise CdpError("chromium closed the pipe (exited %r)" % self.proc.poll())
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def _event(self, m):
        method, p = m.get("method"), m.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.errors.append("exception: %s %s" % (d.get("text"), (d.get("exception") or {})
                                                     .get("description", "")))
        elif method == "Runtime.consoleAPICalled" and p.get("type") == "error":
            self.errors.append("console.error: " + " ".join(
                str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))

    def send(self, method, params=None, browser=False, timeout=15):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if not browser:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.cmd_w, data):]
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise CdpError("%s: %s" % (method, m["error"].get("message")))
                return m.get("result", {})
            if "method" in m:
                self._event(m)

    # --- the page -----------------------------------------------------------

    def viewport(self, width, height):
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": width < 600})

    def eval(self, expr):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CdpError("%s: %s" % (expr[:80], (d.get("exception") or {}).get(
                "description", d.get("text"))))
        return r.get("result", {}).get("value")

    def wait(self, expr, timeout=20.0, what=None):
        """Polls expr until it is truthy; returns its value, or raises AssertionError."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.eval(expr)
            if last:
                return last
            time.sleep(0.05)
        raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" %
                             (timeout, what or expr, last))

    def goto(self, url):
        """Loads url as a new document (a change of the fragment alone loads nothing)."""
        self.eval("window.__haink_before_goto = 1")
        self.send("Page.navigate", {"url": url})
        self.wait("document.readyState === 'complete' && !window.__haink_before_goto",
                  what="%s to load" % url)

    def reload(self):
        self.eval("window.__haink_before_reload = 1")
        self.send("Page.reload", {"ignoreCache": True})
        self.wait("document.readyState === 'complete' && !window.__haink_before_reload",
                  what="the page to reload")

    def text(self, selector):
        return self.eval("(() => { const e = document.querySelector(%s); return e ? e.innerText : null; })()"
                         % json.dumps(selector))

    def click(self, selector, index=0):
        """A real mouse click at the centre of the selector's index-th match (which must be
        the element on top there: a covered or hidden element fails)."""
        js = """(() => {
          const e = document.querySelectorAll(%s)[%d];
          if (!e) return null;
          e.scrollIntoView({block: 'center'});
          const r = e.getBoundingClientRect();
          const x = r.left + r.width / 2, y = r.top + r.height / 2;
          const top = document.elementFromPoint(x, y);
          return {x, y, ok: r.width > 0 && r.height > 0 && !!top && (top === e || e.contains(top))};
        })()""" % (json.dumps(selector), index)
        at = self.eval(js)
        if not at or not at["ok"]:
            raise AssertionError("cannot click %s[%d]: %r" % (selector, index, at))
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": at["x"], "y": at["y"],
                                                   "button": "left", "clickCount": 1})

    def type(self, selector, text, clear=True):
        """Focuses the element and types text (input events as from a keyboard)."""
        self.eval("(() => { const e = document.querySelector(%s); e.focus(); %s })()" % (
            json.dumps(selector), "e.select && e.select();" if clear else ""))
        if clear:
            self.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Delete",
                                                 "code": "Delete", "windowsVirtualKeyCode": 46})
            self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Delete",
                                                 "code": "Delete", "windowsVirtualKeyCode": 46})
        if text:
            self.send("Input.insertText", {"text": text})

    def press_enter(self):
        for kind in ("keyDown", "keyUp"):
            p = {"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
            if kind == "keyDown":
                p["text"] = "\r"
            self.send("Input.dispatchKeyEvent", p)

    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = self.send("Page.captureScreenshot", {"format": "png"}, timeout=30)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
