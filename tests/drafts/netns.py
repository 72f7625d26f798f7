"""A hostile little internet inside a private network namespace, for the crawler's SSRF tests (issue 15).

`run_world(steps)` starts `python -m tests.drafts.netns` under `unshare -n -m`: a fresh network namespace
(only its own loopback; nothing can leave the machine even if the guard is wrong) plus a mount namespace in
which /etc/resolv.conf is bind-mounted to point at a DNS stub on 127.0.0.1:53, so the crawl child's ordinary
system resolver (getaddrinfo) talks to the stub. Inside it, on the loopback device:

- "public" sites on 203.0.113.7 and 198.51.100.7 (TEST-NET: the crawl treats them as public only through
  CrawlConfig.test_public_networks, which accepts documentation ranges and nothing else);
- canaries on private addresses (127.0.0.1, 10.255.255.1, 169.254.169.254, ::1, port 80) that count every
  TCP connection and would serve a page reading CANARY-SECRET; a crawl must never reach one;
- the DNS stub: fixed names, rebinding names (first answer public, every later one private) and names that
  do not resolve (NXDOMAIN), counting queries per name.

The steps run in order in that world (a real crawl child, the real Scrapy download stack on many URLs at
once, the door's checks, plain lookups) and the result, with the canaries' counts, comes back as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
PUBLIC_SITE = "203.0.113.7"
OTHER_PUBLIC_SITE = "198.51.100.7"
V6_PUBLIC_SITE = "2001:db8::7"
PUBLIC_NETWORKS = ["203.0.113.0/24", "198.51.100.0/24", "2001:db8::/32"]
CANARY_ADDRESSES = ["127.0.0.1", "10.255.255.1", "169.254.169.254", "::1"]
CANARY_TEXT = "CANARY-SECRET"
# Names the stub answers: address lists per A query, in order (the last one repeats).
ZONE = {
    "docs.public.test": [PUBLIC_SITE],
    "other.public.test": [OTHER_PUBLIC_SITE],
    "rebind-loopback.test": [PUBLIC_SITE, "127.0.0.1"],
    "rebind-private.test": [PUBLIC_SITE, "10.255.255.1"],
    "rebind-metadata.test": [PUBLIC_SITE, "169.254.169.254"],
    "mixed.test": [PUBLIC_SITE, "10.255.255.1"],  # two A records in one answer (see MULTI)
    "private.test": ["10.255.255.1"],
    "metadata.test": ["169.254.169.254"],
}
MULTI = {"mixed.test"}  # answered with all of its addresses at once
# AAAA answers, the same way (names in neither zone are NXDOMAIN; a name in one only has no other records)
ZONE6 = {
    "v6.public.test": [V6_PUBLIC_SITE],
    "rebind-v6.test": [V6_PUBLIC_SITE, "::1"],
    "dual.test": ["::1"],  # a public A record, a loopback AAAA record
}
ZONE["dual.test"] = [PUBLIC_SITE]
WORLD_TIMEOUT = 240
_SETUP = [
    "ip link set lo up",
    *(f"ip addr add {a}/32 dev lo" for a in (PUBLIC_SITE, OTHER_PUBLIC_SITE, "10.255.255.1", "169.254.169.254")),
    f"ip -6 addr add {V6_PUBLIC_SITE}/128 dev lo nodad",
]

# Summed over every world a test session starts: the SSRF suite asserts at its end that this stays 0.
CANARY_TOTAL: Counter = Counter()
WORLDS_RUN: list[int] = []


def unavailable_reason() -> str | None:
    """Why these tests cannot run here (no unshare / not allowed to create namespaces), or None."""
    if not shutil.which("unshare") or not shutil.which("ip") or not shutil.which("mount"):
        return "needs unshare, ip and mount (util-linux, iproute2)"
    probe = subprocess.run(
        ["unshare", "-n", "-m", "--", "sh", "-c", "ip link set lo up && mount -t tmpfs none /mnt"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"cannot create a network + mount namespace here (unshare -n -m: {probe.stderr.strip()[:200]})"
    return None


def run_world(steps: list[dict], *, control: bool = False) -> dict:
    """Run `steps` in a fresh namespace world; returns {"steps": [...], "canary": {...}, "dns": {...}, ...}.
    control=True: a world that is meant to reach a canary (it shows the tests can fail); not counted."""
    with tempfile.TemporaryDirectory(prefix="pxb-netns-") as tmp:
        resolv = Path(tmp) / "resolv.conf"
        resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        (Path(tmp) / "steps.json").write_text(json.dumps(steps))
        script = " && ".join(
            [*_SETUP, f"mount --bind {resolv} /etc/resolv.conf", 'exec "$0" -m tests.drafts.netns "$1"']
        )
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env["PYTHONPATH"] = str(REPO_ROOT)
        done = subprocess.run(
            ["unshare", "-n", "-m", "--", "sh", "-c", script, sys.executable, tmp],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=WORLD_TIMEOUT,
        )
        out = Path(tmp) / "result.json"
        if done.returncode != 0 or not out.exists():
            raise AssertionError(f"namespace world failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
        result = json.loads(out.read_text())
    if not control:
        CANARY_TOTAL.update(result["canary"])
        WORLDS_RUN.append(len(steps))
    return result


# ---------------------------------------------------------------------------------------------- inside


class _Dns(threading.Thread):
    """A minimal authoritative DNS responder (RFC 1035) on 127.0.0.1:53: A from ZONE, AAAA from ZONE6."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.queries: Counter = Counter()  # "name/A", "name/AAAA"
        self.answered: Counter = Counter()  # per (name, type)

    def run(self) -> None:
        while True:
            data, peer = self.sock.recvfrom(4096)
            try:
                self.sock.sendto(self.answer(data), peer)
            except (IndexError, UnicodeDecodeError, struct.error, OSError):
                pass  # a malformed query gets no answer, as from a real server

    def answer(self, query: bytes) -> bytes:
        (ident,) = struct.unpack("!H", query[:2])
        labels, offset = [], 12
        while query[offset]:
            length = query[offset]
            labels.append(query[offset + 1 : offset + 1 + length].decode("ascii").lower())
            offset += 1 + length
        qtype, _ = struct.unpack("!HH", query[offset + 1 : offset + 5])
        question = query[12 : offset + 5]
        name = ".".join(labels)
        kind = {1: "A", 28: "AAAA"}.get(qtype, str(qtype))
        self.queries[f"{name}/{kind}"] += 1
        addresses: list[str] = []
        rcode = 0 if name in ZONE or name in ZONE6 else 3  # NXDOMAIN
        zone = {1: ZONE, 28: ZONE6}.get(qtype, {})
        if name in zone:
            sequence = zone[name]
            if name in MULTI:
                addresses = list(sequence)
            else:
                addresses = [sequence[min(self.answered[name, qtype], len(sequence) - 1)]]
            self.answered[name, qtype] += 1
        flags = 0x8400 | rcode  # response, authoritative
        header = struct.pack("!HHHHHH", ident, flags, 1, len(addresses), 0, 0)
        family, size = (socket.AF_INET6, 16) if qtype == 28 else (socket.AF_INET, 4)
        records = b"".join(
            struct.pack("!HHHIH", 0xC00C, qtype, 1, 0, size) + socket.inet_pton(family, address)  # TTL 0: no cache
            for address in addresses
        )
        return header + question + records


class _Canary(threading.Thread):
    """Counts connections to a private address and answers each with a page that must never be stored."""

    def __init__(self, address: str, counts: Counter) -> None:
        super().__init__(daemon=True)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 80))
        self.sock.listen(64)
        self.address = address
        self.counts = counts

    def run(self) -> None:
        body = f"<html><head><title>canary</title></head><body><h1>{CANARY_TEXT}</h1></body></html>".encode()
        while True:
            conn, _ = self.sock.accept()
            self.counts[self.address] += 1
            try:
                conn.settimeout(2)
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
            except OSError:
                pass
            finally:
                conn.close()


class _Site(BaseHTTPRequestHandler):
    """The "public" site: a few linked pages, /redirect?to=URL (302) and a robots.txt."""

    def do_GET(self):  # noqa: N802 - http.server's interface
        self.server.log.append({"host": self.headers.get("Host"), "path": self.path})
        parts = urlsplit(self.path)
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if parts.path == "/robots.txt":
            return self._send(b"User-agent: *\nDisallow: /private/\n", "text/plain")
        page = parts.path.strip("/") or "index.html"
        links = "".join(f'<a href="/page{n}.html">page {n}</a> ' for n in range(1, 4)) if page == "index.html" else ""
        body = f"<html><head><title>{page}</title></head><body><h1>Public {page}</h1><p>{links}</p></body></html>"
        self._send(body.encode(), "text/html")

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _serve_site(address: str) -> ThreadingHTTPServer:
    server = (_Server6 if ":" in address else ThreadingHTTPServer)((address, 80), _Site)
    server.log = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _step_crawl(step: dict, workdir: Path, index: int) -> dict:
    from drafts.crawler import CrawlConfig, start_crawl

    saved = dict(os.environ)
    os.environ.update(step.get("env", {}))  # e.g. proxy variables: the crawl must ignore them
    try:
        options = {"max_pages": 5, "max_depth": 1, "timeout": 5, **step.get("options", {})}
        config = CrawlConfig(start_url=step["start_url"], test_public_networks=PUBLIC_NETWORKS, **options)
        with start_crawl(config, out_dir=workdir / f"crawl-{index}") as handle:
            progress = handle.wait(timeout=90)
            pages = [page.to_dict() for page in handle.pages()]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {"progress": progress.to_dict(), "pages": pages}


def _step_raw_child(step: dict, workdir: Path, index: int) -> dict:
    """The crawl child started directly, with proxy variables in its own environment (no parent to drop them)."""
    from dataclasses import asdict

    from drafts.crawler import CrawlConfig
    from drafts.crawler.recorder import PAGES_FILE, PROGRESS_FILE

    out = workdir / f"raw-{index}"
    out.mkdir()
    config = CrawlConfig(start_url=step["start_url"], max_pages=3, max_depth=1, timeout=5)
    config.test_public_networks = PUBLIC_NETWORKS
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT), **step["env"]}
    subprocess.run(
        [sys.executable, "-m", "drafts.crawler.child", json.dumps(asdict(config)), str(out)],
        env=env,
        cwd=REPO_ROOT,
        timeout=90,
        capture_output=True,
    )
    pages = [json.loads(line) for line in (out / PAGES_FILE).read_text().splitlines() if line.strip()]
    return {"progress": json.loads((out / PROGRESS_FILE).read_text()), "pages": pages}


def _step_batch(step: dict, workdir: Path, index: int) -> dict:
    """Many URLs through the real download stack of a crawl (its settings, middlewares, resolver) in one
    Scrapy process: for each URL, what reached the callback or the errback."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    from drafts.crawler import CrawlConfig
    from drafts.crawler.child import crawl_settings
    from drafts.crawler.errors import describe_failure

    config = CrawlConfig(start_url=f"http://{PUBLIC_SITE}/", timeout=5, test_public_networks=PUBLIC_NETWORKS)
    outcomes: dict[str, dict] = {}

    class Batch(scrapy.Spider):
        name = "ssrf_batch"

        async def start(self):
            for url in step["urls"]:
                try:
                    request = scrapy.Request(
                        url, callback=self.got, errback=self.failed, meta={"form": url}, dont_filter=True
                    )
                except ValueError as exc:  # Scrapy itself refuses to build it: never fetched either
                    outcomes[url] = {"fetched": False, "kind": "error", "reason": str(exc), "exception": "ValueError"}
                    continue
                yield request

        def got(self, response):
            outcomes[response.meta["form"]] = {
                "fetched": True,
                "status": response.status,
                "canary": CANARY_TEXT in response.text,
                "url": response.url,
            }

        def failed(self, failure):
            kind, reason = describe_failure(failure.value, timeout=5)
            outcomes[failure.request.meta["form"]] = {
                "fetched": False,
                "kind": kind,
                "reason": reason,
                "exception": type(failure.value).__name__,
            }

    settings = {**crawl_settings(config), "ROBOTSTXT_OBEY": False, "LOG_LEVEL": "ERROR", **step.get("settings", {})}
    if step.get("naive_guard"):  # the design before issue 15: vet one lookup, let Twisted connect after another
        settings["DOWNLOADER_MIDDLEWARES"] = {"tests.drafts.netns.NaiveGuard": 40}
        settings["TWISTED_DNS_RESOLVER"] = "scrapy.resolver.CachingThreadedResolver"
    process = CrawlerProcess(settings=settings)
    process.crawl(Batch)
    process.start(install_signal_handlers=False)
    for url in step["urls"]:  # a URL with no outcome at all would be a bug in the harness or in Scrapy
        outcomes.setdefault(url, {"fetched": None, "kind": "missing", "reason": "no outcome", "exception": ""})
    return {"outcomes": outcomes}


class NaiveGuard:
    """The pre-issue-15 guard, for control worlds only: checks the host's addresses with its own lookup and
    leaves the connection to Twisted's resolver, which looks the name up again."""

    @classmethod
    def from_crawler(cls, crawler):
        return cls()

    def process_request(self, request):
        from drafts.crawler.errors import BlockedAddress
        from drafts.crawler.netguard import AddressPolicy, blocked_reason

        reason = blocked_reason(
            urlsplit(request.url).hostname or "", AddressPolicy(test_public_networks=tuple(PUBLIC_NETWORKS))
        )
        if reason:
            raise BlockedAddress(reason)


def _step_door(step: dict, workdir: Path, index: int) -> dict:
    """The checks a door (the drafts service) makes, without Django: config validation and the address check."""
    from urllib.parse import urlsplit as split

    from drafts.crawler import validate_crawl_config
    from drafts.crawler.netguard import AddressPolicy, blocked_reason

    results = {}
    for url in step["urls"]:
        try:
            config = validate_crawl_config({"start_url": url})
        except ValueError as exc:
            results[url] = str(exc)
            continue
        policy = AddressPolicy(test_public_networks=tuple(PUBLIC_NETWORKS))
        results[url] = blocked_reason(split(config.start_url).hostname or "", policy)
    return {"reasons": results}


def _step_lookups(step: dict, workdir: Path, index: int) -> dict:
    """Plain getaddrinfo, twice per name: shows the stub really rebinds (a second lookup would go elsewhere)."""
    answers = {}
    for name in step["names"]:
        answers[name] = []
        for _ in range(2):
            try:
                answers[name].append(sorted({i[4][0] for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}))
            except socket.gaierror as exc:
                answers[name].append(f"error: {exc}")
    return {"answers": answers}


STEPS = {
    "crawl": _step_crawl,
    "raw_child": _step_raw_child,
    "batch": _step_batch,
    "door": _step_door,
    "lookups": _step_lookups,
}


def main(tmp: str) -> None:
    workdir = Path(tmp)
    steps = json.loads((workdir / "steps.json").read_text())
    counts: Counter = Counter()
    dns = _Dns()
    dns.start()
    for address in CANARY_ADDRESSES:
        _Canary(address, counts).start()
    sites = {address: _serve_site(address) for address in (PUBLIC_SITE, OTHER_PUBLIC_SITE, V6_PUBLIC_SITE)}
    results = [STEPS[step["op"]](step, workdir, index) for index, step in enumerate(steps)]
    result = {
        "steps": results,
        "canary": {address: counts[address] for address in CANARY_ADDRESSES},
        "dns": dict(dns.queries),
        "site_log": {address: server.log for address, server in sites.items()},
    }
    (workdir / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
