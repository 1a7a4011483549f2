"""A tiny DevTools-protocol client for headless Chromium over --remote-debugging-pipe (no downloads, no driver).

It loads a page and records what a reviewer's browser would complain about: console errors, uncaught
exceptions, log entries of level error (a failed load among them) and every request the page makes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BINARIES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT = 60.0  # seconds for any one answer: a 2-core machine shared by many jobs is slow to start a browser


def binary() -> str | None:
    return next((path for name in BINARIES if (path := shutil.which(name)) is not None), None)


class BrowserError(Exception):
    pass


@dataclass
class Loaded:
    """What happened while a page loaded."""

    errors: list[str] = field(default_factory=list)  # console errors, exceptions, error log entries
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, itself included


class Chromium:
    """One headless browser; `with Chromium() as b: b.load(path)`."""

    def __init__(self) -> None:
        exe = binary()
        if exe is None:
            raise BrowserError("chromium is not installed")
        self._profile = tempfile.TemporaryDirectory(prefix="topograph-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds() -> None:  # the pipe protocol: the browser reads commands on fd 3 and writes on fd 4
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self._proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--disable-sync", "--hide-scrollbars",
             "--mute-audio", f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4, to_child_r, from_child_w), preexec_fn=fds)  # 3 and 4 kept open after fds() runs
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next = 0
        self._events: list[dict[str, Any]] = []
        self._session = ""

    def __enter__(self) -> Chromium:
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self._session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.call("Browser.close")
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        self._profile.cleanup()

    # -- the protocol --------------------------------------------------------------------------------
    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == ident:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            self._events.append(answer)

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_child], [], [], TIMEOUT)
            if not ready:
                raise BrowserError("chromium did not answer in time")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed the pipe")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def _wait_for(self, method: str) -> None:
        while True:
            for i, e in enumerate(self._events):
                if e.get("method") == method:
                    del self._events[i]
                    return
            self._events.append(self._read())

    # -- what the tests use --------------------------------------------------------------------------
    def load(self, path: Path, width: int = 1400) -> Loaded:
        self._events.clear()
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=1000, deviceScaleFactor=1,
                  mobile=False)
        self.call("Page.navigate", session=True, url=path.resolve().as_uri())
        self._wait_for("Page.loadEventFired")
        self.evaluate("1")  # a round trip: events sent during the load are in by now
        loaded = Loaded()
        for e in self._events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                loaded.errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                loaded.errors.append("exception: " + params["exceptionDetails"].get("text", ""))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                loaded.errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}".rstrip())
            elif method == "Network.requestWillBeSent":
                loaded.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                loaded.errors.append(f"load failed: {params.get('errorText')}")
        return loaded

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression}: {answer['exceptionDetails'].get('text')}")
        return answer["result"].get("value")

    def screenshot(self, out: Path, width: int = 1400, top: int = 0, most: int | None = None) -> None:
        """The page, `width` CSS pixels wide: all of it, or `most` pixels from `top`."""
        height = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)"))
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height, deviceScaleFactor=1,
                  mobile=False)
        clip = {"x": 0, "y": top, "width": width, "height": min(height - top, most or height), "scale": 1}
        data = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True,
                         clip=clip)["data"]
        out.write_bytes(base64.b64decode(data))

    def pdf(self) -> bytes:
        return base64.b64decode(self.call("Page.printToPDF", session=True)["data"])
