"""Opens an HTML file in headless Chromium, the way a user's browser would, and fails on any
console message of level warning or error or on any network request the page makes.

Usage: check_page.py PAGE.html SCREENSHOT.png

Every request Chromium makes goes through a proxy this script listens on (loopback included,
`--proxy-bypass-list=<-loopback>`): a page that asks for anything (a font, a script, an image
over http, https or to localhost) connects to it and is caught. The browser's own background
traffic (Google's time and account services, which no flag silences in every version) is told
apart by rendering an empty page first: the hosts it contacts are not counted. Console messages come from
Chromium's own log (`--enable-logging=stderr`). Before judging PAGE, two control pages, one
logging a console error and one loading an image over the network, must be caught, so the
check cannot pass by seeing nothing. Exit 0 when PAGE is clean and the screenshot is written;
exit 1 with the reasons otherwise; exit 2 when Chromium is missing.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]


def browser():
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Proxy:
    """A listener that records every connection (a request through the proxy) and closes it."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                first = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
            except OSError:
                first = "(no request line)"
            with self.lock:
                self.requests.append(first)
            conn.close()

    def taken(self):
        with self.lock:
            seen, self.requests = self.requests, []
        return seen


def host(request_line):
    """The host a proxied request line names: `CONNECT h:443 ...` or `GET http://h/... ...`."""
    parts = request_line.split()
    if len(parts) < 2:
        return request_line
    target = parts[1]
    if "://" in target:
        target = target.split("://", 1)[1]
    return target.split("/", 1)[0].rsplit(":", 1)[0]


def render(chrome, proxy, page, screenshot, profile):
    """Loads `page`, writes `screenshot`; returns Chromium's console lines."""
    args = [
        chrome,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--mute-audio",
        "--no-pings",
        "--metrics-recording-only",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-component-extensions-with-background-pages",
        "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,Translate,"
        "MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater,"
        "InterestFeedContentSuggestions,SignInProfileCreation,AccountConsistency",
        f"--user-data-dir={profile}",
        f"--proxy-server=http://127.0.0.1:{proxy.port}",
        "--proxy-bypass-list=<-loopback>",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,2400",
        "--virtual-time-budget=3000",
        f"--screenshot={screenshot}",
        "file://" + os.path.abspath(page),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    log = done.stderr.splitlines()
    # Chromium logs a page's console as `...:INFO:CONSOLE:1] "message", source: ...` (older
    # versions: `CONSOLE(1)]`).
    console = [l for l in log if re.search(r":CONSOLE[:(]\d+", l)]
    if done.returncode != 0 or not os.path.exists(screenshot):
        raise SystemExit(
            f"chromium failed on {page} (exit {done.returncode}): " + "\n".join(log[-20:])
        )
    return console


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: check_page.py PAGE.html SCREENSHOT.png")
    page, screenshot = sys.argv[1], sys.argv[2]
    chrome = browser()
    if chrome is None:
        print(
            "error: no Chromium found (tried " + ", ".join(CANDIDATES) + "): install it "
            "with `apt-get install chromium` (.ci/run does)",
            file=sys.stderr,
        )
        sys.exit(2)
    proxy = Proxy()
    with tempfile.TemporaryDirectory() as tmp:
        # The controls: what a bad page does must be seen.
        noisy = os.path.join(tmp, "noisy.html")
        with open(noisy, "w") as f:
            f.write("<!DOCTYPE html><html><body><script>console.error('control error')</script></body></html>")
        fetching = os.path.join(tmp, "fetching.html")
        with open(fetching, "w") as f:
            f.write('<!DOCTYPE html><html><body><img src="http://example.invalid/x.png"></body></html>')
        # The browser's own traffic (time, account and search services, whatever flags are
        # ignored): the hosts an empty page contacts are not the page's requests.
        empty = os.path.join(tmp, "empty.html")
        with open(empty, "w") as f:
            f.write("<!DOCTYPE html><html><body></body></html>")
        render(chrome, proxy, empty, os.path.join(tmp, "e.png"), os.path.join(tmp, "p0"))
        browser_own = {host(r) for r in proxy.taken()}
        page_requests = lambda: [r for r in proxy.taken() if host(r) not in browser_own]
        console = render(chrome, proxy, noisy, os.path.join(tmp, "a.png"), os.path.join(tmp, "p1"))
        proxy.taken()
        if not any("control error" in l for l in console):
            raise SystemExit("the check is blind: a console.error on a control page was not seen")
        render(chrome, proxy, fetching, os.path.join(tmp, "b.png"), os.path.join(tmp, "p2"))
        if not page_requests():
            raise SystemExit("the check is blind: a control page's image request was not seen")

        console = render(chrome, proxy, page, screenshot, os.path.join(tmp, "p3"))
        requests = page_requests()
    problems = [f"console: {l}" for l in console] + [f"network request: {r}" for r in requests]
    if problems:
        print(f"{page}: " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"{page}: no console message, no network request; screenshot {screenshot}")


if __name__ == "__main__":
    main()
