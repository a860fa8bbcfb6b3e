"""Open an HTML file in headless Chromium with no network, wait for it, take a screenshot.

Used by the scene tests, the scene benchmark and the README screenshots (``python -m
tools.browser PAGE.html OUT.png``; ``--phone`` for a 390 x 844 phone; ``--print A4`` for the page's
print view printed to PDF, its page turned into OUT.png by pdftoppm). Tests click with
:class:`Click` (DevTools mouse events, the page's own handlers answer). Chromium is driven through the DevTools protocol over
``--remote-debugging-pipe`` (standard library only, no websocket client), which lets us
wait for the page to say it has drawn its first frame (``window.sceneStatus`` becomes
``{ready: true, ms: ...}``; scene pages set it, see ``twin.scene.page``), record every
network request it attempts and collect its console errors.

Network isolation: Chromium runs inside a fresh network namespace (``unshare --net``)
where that is permitted; otherwise every host name is mapped to an unresolvable address
and every request sent to a dead proxy. :attr:`PageReport.isolation` says which was used.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from twin._io import atomic_file
from twin.errors import TwinError

__all__ = ["Click", "PageReport", "PAPER", "chromium_path", "open_page", "print_pdf", "screenshot", "pdf_to_png"]

#: Paper sizes of the print view (landscape), as the scene pages name them.
PAPER = ("A4", "A3")
#: The phone the README screenshot and the tests emulate (CSS pixels).
PHONE = (390, 844)

#: Schemes a page may load from without touching the network.
_LOCAL_SCHEMES = ("data:", "blob:", "file:", "about:", "chrome:", "chrome-error:", "devtools:")

_BASE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    # deck.gl needs WebGL2; without a GPU only SwiftShader (software) provides it.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--remote-debugging-pipe",
)

_BLOCK_FLAGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)

_LOOPBACK_FLAGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
)


@dataclass(frozen=True)
class Click:
    """A real mouse click: DevTools ``Input.dispatchMouseEvent`` (move, press, release of the left
    button) at the CSS pixel ``[x, y]`` that the JavaScript expression ``at`` evaluates to in the page.

    Chromium turns these into the same pointer, mouse and click events a person's click makes, so the
    page's own handlers answer it (nothing is called in the page directly).
    """

    at: str


@dataclass(frozen=True)
class PageReport:
    """What happened when a page was opened.

    Attributes
    ----------
    ready : bool
        The page reported its first complete frame.
    ready_ms : float or None
        Milliseconds from navigation start to that frame, as the page measured it
        (``performance.now()``); None if it gave no number.
    wall_s : float
        Seconds from the navigation request until the page was seen ready here (includes
        a polling granularity of about 20 ms).
    error : str or None
        The error the page reported instead of becoming ready.
    requests : tuple of str
        URLs of every request that would have needed a network (not data:, blob:, file:).
    console_errors : tuple of str
        Console errors and uncaught exceptions of the page.
    isolation : str
        ``"netns"`` (own empty network namespace), ``"blocked"`` (resolver and proxy rules) or
        ``"loopback"`` (the same rules, 127.0.0.1 let through for a page a local server serves).
    action_values : tuple
        What each action's expression evaluated to (JSON-compatible values).
    """

    ready: bool
    ready_ms: float | None
    wall_s: float
    error: str | None = None
    requests: tuple[str, ...] = field(default_factory=tuple)
    console_errors: tuple[str, ...] = field(default_factory=tuple)
    isolation: str = "netns"
    action_values: tuple = field(default_factory=tuple)


def chromium_path() -> Path | None:
    """Return the Chromium executable, or None when no Chromium is installed.

    The environment variable ``CHROMIUM`` wins; then ``/usr/bin/chromium`` and the usual
    names on ``PATH``.
    """
    env = os.environ.get("CHROMIUM")
    if env:
        return Path(env) if Path(env).exists() else None
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


@lru_cache(maxsize=1)
def netns_allowed() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        done = subprocess.run([unshare, "--net", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class _Pipe:
    """A DevTools protocol connection over Chromium's fd 3 (commands) and fd 4 (replies)."""

    def __init__(self, to_browser: int, from_browser: int):
        self._out = to_browser
        self._in = from_browser
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def send(
        self, method: str, params: dict | None = None, *, session: str | None = None, timeout_s: float = 30.0
    ) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._out, data) :]
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise TwinError(
                        f"Chromium refused {method}: {reply['error']}. Check the Chromium version (needs 110 or newer)."
                    )
                return reply.get("result", {})
            self.events.append(reply)

    def close(self) -> None:
        os.close(self._out)
        os.close(self._in)

    def pump(self, seconds: float) -> None:
        """Collect events for up to ``seconds`` without sending anything."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read(deadline))
        except TimeoutError:
            pass

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from Chromium in time")
            ready, _, _ = select.select([self._in], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise TwinError(
                    "Chromium closed its DevTools pipe (it crashed or exited); "
                    "run it by hand with the same flags to see why."
                )
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)


def _launch(
    exe: Path, user_dir: str, width: int, height: int, loopback: bool = False
) -> tuple[subprocess.Popen, _Pipe, str]:
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    # Chromium expects the pipe on fds 3 (commands) and 4 (replies); a one-line Python
    # moves the child's ends there before it execs (a preexec_fn would run before
    # subprocess closes inherited fds, and /bin/sh cannot name fds above 9).
    flags = [*_BASE_FLAGS, f"--user-data-dir={user_dir}", f"--window-size={width},{height}"]
    if loopback:  # a page served by a local test server: only 127.0.0.1 is reachable
        argv, isolation = [str(exe), *flags, *_LOOPBACK_FLAGS], "loopback"
    elif netns_allowed():
        argv, isolation = [shutil.which("unshare") or "unshare", "--net", str(exe), *flags], "netns"
    else:
        argv, isolation = [str(exe), *flags, *_BLOCK_FLAGS], "blocked"
    wire = (
        "import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); "
        "os.dup2(r, 3); os.dup2(w, 4); [os.close(f) for f in (r, w) if f > 4]; "
        "os.execvp(sys.argv[3], sys.argv[3:])"
    )
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", wire, str(to_child_r), str(from_child_w), *argv, "about:blank"],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        os.close(to_child_r)
        os.close(from_child_w)
    return proc, _Pipe(to_child_w, from_child_r), isolation


def _attach_page(pipe: _Pipe, deadline: float) -> str:
    while True:
        targets = pipe.send("Target.getTargets")["targetInfos"]
        pages = [t for t in targets if t["type"] == "page"]
        if pages:
            return pipe.send("Target.attachToTarget", {"targetId": pages[0]["targetId"], "flatten": True})["sessionId"]
        if time.monotonic() > deadline:
            raise TwinError("headless Chromium opened no page; check that it starts by hand.")
        time.sleep(0.05)


def _evaluate(pipe: _Pipe, session: str, expression: str, deadline: float):
    # A page busy parsing (pydeck's 100 MB pages take minutes) answers only when its main
    # thread is free: wait for the reply as long as the page is allowed to take.
    result = pipe.send(
        "Runtime.evaluate",
        {"expression": expression, "returnByValue": True},
        session=session,
        timeout_s=max(deadline - time.monotonic(), 1.0),
    )
    return result.get("result", {}).get("value")


def _collect(events: list[dict]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    requests, errors = [], []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.startswith(_LOCAL_SCHEMES):
                requests.append(url)
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            errors.append(text)
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"].get("text", ""))
    return tuple(requests), tuple(errors)


def open_page(
    html_path: str | os.PathLike,
    png_path: str | os.PathLike | None = None,
    *,
    width: int = 1200,
    height: int = 800,
    status: str = "window.sceneStatus",
    timeout_s: float = 120.0,
    settle_s: float = 0.3,
    actions: Sequence[tuple[str | Click, str | os.PathLike | None]] = (),
    mobile: bool = False,
    pdf_path: str | os.PathLike | None = None,
    paper: str = "A4",
) -> PageReport:
    """Open a local HTML file (or a page on ``http://127.0.0.1``) in headless Chromium without network;
    optionally screenshot it.

    Parameters
    ----------
    html_path : path-like or str
        The page to open: a local file, or an ``http://127.0.0.1:PORT/...`` URL of a server the
        caller runs (then Chromium reaches 127.0.0.1 and nothing else: ``isolation="loopback"``).
    png_path : path-like, optional
        Where to write a PNG screenshot of the viewport once the page is ready (atomic write).
    width, height : int
        Viewport size in CSS pixels (device scale factor 1).
    status : str
        JavaScript expression of the page's status object: ``{ready: true, ms: <number>}``
        once drawn, ``{error: "..."}`` on failure (which ends the wait at once).
    timeout_s : float
        How long to wait for the page.
    settle_s : float
        Extra seconds to let events arrive (and late frames draw) before each screenshot.
    actions : sequence of (str or Click, path-like or None)
        After the first screenshot, for each pair: evaluate the JavaScript expression (a
        promise is awaited; its value lands in :attr:`PageReport.action_values`) or make the
        :class:`Click` (its value: the pixel clicked), wait ``settle_s`` and take a screenshot
        into the path (none when the path is None).
    mobile : bool
        Emulate a phone (mobile viewport, touch-sized layout) at ``width`` x ``height``.
    pdf_path : path-like, optional
        After the actions, put the page in its print view (``window.scenePrint(paper)``) and
        print it to PDF with Chromium's own printing (``Page.printToPDF``, what
        ``chromium --headless --print-to-pdf`` runs), on the page's paper size.
    paper : {"A4", "A3"}
        Paper of the print view (landscape).

    Returns
    -------
    PageReport

    Raises
    ------
    TwinError
        Chromium is missing, fails to start, or the page is neither ready nor failed
        within ``timeout_s``.
    """
    exe = chromium_path()
    if exe is None:
        raise TwinError(
            "Chromium is not installed; install it (Debian: apt-get install chromium) "
            "or set the CHROMIUM environment variable to its executable."
        )
    loopback = str(html_path).startswith("http://127.0.0.1:")
    url = str(html_path) if loopback else Path(html_path).resolve().as_uri()
    probe = f"JSON.stringify((() => {{ try {{ return {status} || null; }} catch (e) {{ return null; }} }})())"
    with tempfile.TemporaryDirectory(prefix="twin-chromium-") as user_dir:
        proc, pipe, isolation = _launch(exe, user_dir, width, height, loopback)
        try:
            deadline = time.monotonic() + timeout_s
            session = _attach_page(pipe, deadline)
            for domain in ("Page", "Runtime", "Network", "Log"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
                session=session,
            )
            start = time.monotonic()
            pipe.send("Page.navigate", {"url": url}, session=session)
            while True:
                try:
                    state = json.loads(_evaluate(pipe, session, probe, deadline) or "null") or {}
                except TimeoutError:
                    state = {}
                if state.get("ready") or state.get("error"):
                    break
                if time.monotonic() > deadline:
                    requests, errors = _collect(pipe.events)
                    raise TwinError(
                        f"{html_path} did not finish drawing within {timeout_s:.0f} s "
                        f"(errors: {list(errors[:3])}); open it in a browser and "
                        "look at the console."
                    )
                pipe.pump(0.02)
            wall_s = time.monotonic() - start
            pipe.pump(settle_s)
            if png_path is not None:
                shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session, timeout_s=timeout_s)
                _write_atomic(Path(png_path), base64.b64decode(shot["data"]))
            values = []
            for script, path in actions:
                if isinstance(script, Click):
                    values.append(_click(pipe, session, script.at, timeout_s))
                else:
                    values.append(_run(pipe, session, script, timeout_s))
                pipe.pump(settle_s)
                if path is not None:
                    shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session, timeout_s=timeout_s)
                    _write_atomic(Path(path), base64.b64decode(shot["data"]))
            if pdf_path is not None:
                if paper not in PAPER:
                    raise TwinError(f"paper {paper!r} is not one of {list(PAPER)}.")
                _run(pipe, session, f"window.scenePrint({json.dumps(paper)})", timeout_s)
                pipe.pump(settle_s)
                printed = pipe.send(
                    "Page.printToPDF",
                    {"preferCSSPageSize": True, "printBackground": True, "landscape": True},
                    session=session,
                    timeout_s=timeout_s,
                )
                _write_atomic(Path(pdf_path), base64.b64decode(printed["data"]))
            requests, errors = _collect(pipe.events)
            try:
                pipe.send("Browser.close", timeout_s=5)
            except (TimeoutError, TwinError):
                pass
        finally:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            pipe.close()
    ms = state.get("ms")
    return PageReport(
        ready=bool(state.get("ready")),
        ready_ms=float(ms) if isinstance(ms, (int, float)) else None,
        wall_s=wall_s,
        error=state.get("error"),
        requests=requests,
        console_errors=errors,
        isolation=isolation,
        action_values=tuple(values),
    )


def _run(pipe: _Pipe, session: str, script: str, timeout_s: float):
    done = pipe.send(
        "Runtime.evaluate",
        {"expression": script, "awaitPromise": True, "returnByValue": True},
        session=session,
        timeout_s=timeout_s,
    )
    if "exceptionDetails" in done:
        raise TwinError(f"page action {script!r} failed: {done['exceptionDetails']}")
    return done.get("result", {}).get("value")


def _click(pipe: _Pipe, session: str, at: str, timeout_s: float) -> list[float]:
    x, y = (float(v) for v in _run(pipe, session, at, timeout_s)[:2])
    pipe.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y}, session=session)
    for kind in ("mousePressed", "mouseReleased"):
        pipe.send(
            "Input.dispatchMouseEvent",
            {
                "type": kind,
                "x": x,
                "y": y,
                "button": "left",
                "buttons": 1 if kind == "mousePressed" else 0,
                "clickCount": 1,
            },
            session=session,
        )
    return [x, y]


def pdf_to_png(pdf_path: str | os.PathLike, png_path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """The first page of a PDF as a PNG, by poppler's ``pdftoppm``.

    Raises
    ------
    TwinError
        ``pdftoppm`` is not installed or fails.
    """
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise TwinError("pdftoppm is not installed; install it (Debian: apt-get install poppler-utils).")
    png_path = Path(png_path)
    with tempfile.TemporaryDirectory(prefix="twin-pdf-") as tmp:
        done = subprocess.run(
            [exe, "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(pdf_path), f"{tmp}/page"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise TwinError(f"pdftoppm could not read {pdf_path}: {done.stderr.strip()}")
        _write_atomic(png_path, Path(f"{tmp}/page.png").read_bytes())
    return png_path


def print_pdf(
    html_path: str | os.PathLike,
    pdf_path: str | os.PathLike,
    *,
    paper: str = "A4",
    png_path: str | os.PathLike | None = None,
    timeout_s: float = 120.0,
) -> PageReport:
    """Print a scene page's print view (landscape ``paper``, legend, title, scenario, time) to PDF in
    headless Chromium without network; with ``png_path``, also its first page as a PNG (pdftoppm).

    Raises
    ------
    TwinError
        The page does not draw, Chromium is missing, or pdftoppm is (for ``png_path``).
    """
    html_path = _scene_file(html_path)
    report = open_page(html_path, None, timeout_s=timeout_s, pdf_path=pdf_path, paper=paper)
    _check(report, html_path)
    if png_path is not None:
        pdf_to_png(pdf_path, png_path)
    return report


def _scene_file(html_path: str | os.PathLike) -> Path:
    html_path = Path(html_path)
    if html_path.is_dir():
        html_path = html_path / "scene.html"
    if not html_path.is_file():
        raise TwinError(f"{html_path} does not exist; write it first (twin scene RESULT_DIR).")
    return html_path


def _check(report: PageReport, html_path: Path) -> None:
    if not report.ready:
        raise TwinError(
            f"{html_path} failed to draw: {report.error}; console errors: "
            f"{list(report.console_errors[:3])}. Rebuild it with twin scene."
        )


def screenshot(
    html_path: str | os.PathLike,
    png_path: str | os.PathLike,
    *,
    width: int = 1200,
    height: int = 800,
    timeout_s: float = 120.0,
    mobile: bool = False,
) -> PageReport:
    """Render a scene page in headless Chromium (no network) into a PNG.

    Parameters
    ----------
    html_path : path-like
        A page written by :meth:`twin.scene.city.Scene.to_html`, or a result folder holding
        ``scene.html``.
    png_path : path-like
        Output PNG; its folder is created if needed.
    width, height : int
        Viewport size in pixels.
    timeout_s : float
        How long to wait for the page to draw.
    mobile : bool
        Emulate a phone (see :data:`PHONE` for the usual size).

    Returns
    -------
    PageReport

    Raises
    ------
    TwinError
        The page reports an error or does not draw in time.
    """
    html_path = _scene_file(html_path)
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    report = open_page(html_path, png_path, width=width, height=height, timeout_s=timeout_s, mobile=mobile)
    _check(report, html_path)
    return report


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tools.browser",
        description="Screenshot a scene page (or print its print view to PDF) in headless Chromium, offline.",
    )
    parser.add_argument("page", help="PAGE.html or a result folder holding scene.html")
    parser.add_argument("out", help="OUT.png (with --print: the PDF's first page; the PDF goes beside it)")
    parser.add_argument("--phone", action="store_true", help=f"a phone's screen ({PHONE[0]} x {PHONE[1]})")
    parser.add_argument("--print", dest="paper", choices=PAPER, help="print view on this paper (landscape)")
    parser.add_argument("--pdf", help="with --print: where the PDF goes (default: OUT with .pdf)")
    args = parser.parse_args(argv)
    if args.paper:
        pdf = Path(args.pdf) if args.pdf else Path(args.out).with_suffix(".pdf")
        report = print_pdf(args.page, pdf, paper=args.paper, png_path=args.out)
        print(f"{pdf} and {args.out}: {args.paper} landscape (network isolation: {report.isolation})")
        return 0
    size = dict(zip(("width", "height"), PHONE), mobile=True) if args.phone else {}
    report = screenshot(args.page, args.out, **size)
    print(f"{args.out}: first frame after {report.wall_s:.1f} s (network isolation: {report.isolation})")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
