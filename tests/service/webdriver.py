"""A minimal W3C WebDriver client over HTTP (urllib), enough to drive
Debian's headless chromium through chromedriver in the web view's test
without Selenium."""

import base64
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """chromedriver plus one headless chromium session; stop() ends both."""

    def __init__(self, log_path, chromium="/usr/bin/chromium",
                 driver="/usr/bin/chromedriver"):
        for path in (chromium, driver):
            if not os.path.exists(path):
                raise AssertionError(f"{path} is missing: run "
                                     f"scripts/bootstrap.sh (packages "
                                     f"chromium, chromium-driver)")
        self.port = _free_port()
        self.log = open(log_path, "a")
        self.driver = subprocess.Popen(
            [driver, f"--port={self.port}"], stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while True:
            try:
                self._call("GET", "/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1600",
                         "--no-first-run", "--disable-extensions"]}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError(f"WebDriver {method} {path}: "
                                 f"{e.read().decode()[:500]}") from None

    def _s(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def get(self, url):
        self._s("POST", "/url", {"url": url})

    @property
    def url(self):
        return self._s("GET", "/url")

    def find(self, css):
        return self._s("POST", "/element",
                       {"using": "css selector", "value": css})[ELEMENT]

    def find_all(self, css):
        return [e[ELEMENT] for e in self._s(
            "POST", "/elements", {"using": "css selector", "value": css})]

    def type(self, css, text):
        self._s("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css):
        self._s("POST", f"/element/{self.find(css)}/click", {})

    def text(self, css="body"):
        return self._s("GET", f"/element/{self.find(css)}/text")

    def wait_text(self, css, timeout=30):
        """The text of the first element matching `css`, once there is one
        (pages load after clicks and scripts asynchronously)."""
        deadline = time.time() + timeout
        while True:
            found = self.find_all(css)
            if found:
                return self._s("GET", f"/element/{found[0]}/text")
            if time.time() > deadline:
                raise AssertionError(f"no {css} on {self.url} after "
                                     f"{timeout}s")
            time.sleep(0.1)

    def frame(self, css=None):
        """Into the iframe matching `css`; None: back to the page."""
        target = None if css is None else {ELEMENT: self.find(css)}
        self._s("POST", "/frame", {"id": target})

    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(self._s("GET", "/screenshot")))
        return path

    def stop(self):
        try:
            self._s("DELETE", "")
        except Exception:  # The browser may be gone already.
            pass
        self.driver.terminate()
        try:
            self.driver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.driver.kill()
            self.driver.wait()
        self.log.close()
