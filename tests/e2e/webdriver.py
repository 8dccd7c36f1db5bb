"""A minimal W3C WebDriver client over chromedriver's HTTP API, for the
e2e tests that look at a page in headless Chromium (Debian's chromium and
chromium-driver, installed by scripts/install-deps.sh test). Standard
library only."""
import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Browser:
    """Starts chromedriver on a free port and one headless session; close()
    ends both."""

    def __init__(self, log_path, width=1280, height=900):
        driver = shutil.which("chromedriver")
        binary = shutil.which("chromium")
        if not driver or not binary:
            raise RuntimeError("chromium or chromedriver missing "
                               "(scripts/install-deps.sh test installs them)")
        self.session = None
        self.port = free_port()
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([driver, "--port=%d" % self.port],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.base = "http://127.0.0.1:%d" % self.port
        for _ in range(200):
            try:
                if self._call("GET", "/status")["value"]["ready"]:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            self.close()
            raise RuntimeError("chromedriver not ready")
        try:
            self.session = self._new_session(binary, width, height)
        except Exception:
            self.close()  # no chromedriver left behind
            raise

    def _new_session(self, binary, width, height):
        args = ["--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=%d,%d" % (width, height)]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to sandbox as root
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": binary, "args": args}}}}
        return self._call("POST", "/session", caps)["value"]["sessionId"]

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read().decode())

    def _s(self, method, path, body=None):
        return self._call(method, "/session/%s%s" % (self.session, path), body)["value"]

    def open(self, url):
        self._s("POST", "/url", {"url": url})

    def run(self, script, *args):
        """Runs script (a function body) in the page; returns what it returns."""
        return self._s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self._s("GET", "/screenshot")))

    def close(self):
        try:
            if self.session:
                self._call("DELETE", "/session/" + self.session)
        except OSError:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
