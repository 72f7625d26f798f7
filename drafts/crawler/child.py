"""Entry point of the crawl child process: `python -m drafts.crawler.child CONFIG_JSON OUT_DIR [LIMITS_JSON]`.

Scrapy runs on Twisted's reactor, which cannot be restarted inside one process, so every crawl gets a
fresh interpreter. Output goes to OUT_DIR (see recorder.py); the exit code is informational only.

Network rules (SSRF): every connection takes its address from drafts.crawler.resolver.PinnedResolver (one
vetted lookup per host); no proxy is used, whatever the environment says, since a proxy would resolve names
itself; only the http and https download handlers exist (no file:, ftp:, s3:, data:).
"""

from __future__ import annotations

import json
import os
import signal
import sys

from drafts.crawler.config import CrawlConfig, validate_crawl_config
from drafts.crawler.errors import MAX_DOWNLOAD_BYTES
from drafts.crawler.handle import KNOWN_FILE, CrawlLimits
from drafts.crawler.recorder import Recorder
from privexbot.env import drop_proxy_variables

PARENT_CHECK_SECONDS = 1.0


def crawl_settings(config: CrawlConfig) -> dict:
    from drafts.crawler.resolver import POLICY_SETTING  # imports Twisted: only once the child runs the crawl

    policy = config.address_policy()
    return {
        "BOT_NAME": "privexbot",
        "USER_AGENT": config.user_agent,
        "ROBOTSTXT_OBEY": config.obey_robots,
        "CONCURRENT_REQUESTS": config.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": config.concurrency,
        "DOWNLOAD_DELAY": 0,
        "DOWNLOAD_TIMEOUT": config.timeout,
        "DNS_TIMEOUT": config.timeout,
        "DOWNLOAD_MAXSIZE": MAX_DOWNLOAD_BYTES,
        "DOWNLOAD_WARNSIZE": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        "HTTPCACHE_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,  # it would open a listening port
        "LOG_LEVEL": "WARNING",
        # 4xx/5xx reach the callback, which records "HTTP 404" with the status.
        "HTTPERROR_ALLOW_ALL": True,
        # One retry for failures that are plausibly transient. Not for refused connections, DNS failures
        # or timeouts: a second attempt rarely helps and doubles the wait (2 x timeout per page).
        "RETRY_TIMES": 1,
        "RETRY_EXCEPTIONS": [
            "scrapy.exceptions.DownloadFailedError",
            "scrapy.exceptions.ResponseDataLossError",
            "twisted.internet.error.ConnectionDone",
            "twisted.internet.error.ConnectionLost",
        ],
        "REDIRECT_MAX_TIMES": 5,
        # Breadth-first: with max_pages, the pages nearest the start URL are the ones kept.
        "DEPTH_PRIORITY": 1,
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
        # One lookup per host, vetted, and the connection made to that very answer (see resolver.py).
        "TWISTED_DNS_RESOLVER": "drafts.crawler.resolver.PinnedResolver",
        POLICY_SETTING: {"allow_private": policy.allow_private, "test_public_networks": policy.test_public_networks},
        "DNSCACHE_ENABLED": False,  # the pinned resolver is the cache; Scrapy's would be a second one
        "HTTPPROXY_ENABLED": False,
        "DOWNLOAD_HANDLERS": {"file": None, "data": None, "s3": None, "ftp": None},
        "DOWNLOADER_MIDDLEWARES": {
            "drafts.crawler.spider.AddressGuard": 40,
            "drafts.crawler.spider.StayOnSiteMiddleware": 50,
            "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": None,
        },
    }


def main(config_json: str, out_dir: str, limits_json: str = "{}") -> int:
    drop_proxy_variables()
    recorder = Recorder(out_dir)
    try:
        config = validate_crawl_config(json.loads(config_json))
        limits = CrawlLimits(**json.loads(limits_json))
    except (ValueError, TypeError) as exc:
        recorder.finish(error=f"invalid crawl config: {exc}")
        return 2
    _exit_on_sigterm(recorder)
    _stop_at_limits(recorder, limits)
    try:
        return _run(config, recorder)
    except MemoryError:
        recorder.finish(error=limits.messages()["memory"])
        os._exit(137)


def _run(config: CrawlConfig, recorder: Recorder) -> int:
    from scrapy.crawler import CrawlerProcess  # after the signal handler: importing Scrapy takes ~1 s

    from drafts.crawler.spider import SiteSpider

    failures: list[str] = []
    process = CrawlerProcess(settings=crawl_settings(config))
    crawler = process.create_crawler(SiteSpider)
    done = process.crawl(crawler, config=config, recorder=recorder, known=_known_pages(recorder.out_dir))
    done.addErrback(lambda failure: failures.append(f"crawler failed: {failure.getErrorMessage()}"))
    _watch_parent(recorder)
    process.start(install_signal_handlers=False)

    spider = crawler.spider
    error = failures[0] if failures else getattr(spider, "fatal_error", None)
    recorder.finish(error=error)
    return 1 if error else 0


def _known_pages(out_dir) -> dict:
    """The pages a re-sync already holds (handle.KNOWN_FILE), or {} for a first crawl."""
    try:
        data = json.loads((out_dir / KNOWN_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def _stop_at_limits(recorder: Recorder, limits: CrawlLimits) -> None:
    """Wall clock (SIGALRM) and CPU time (SIGXCPU, from RLIMIT_CPU set by the parent): record why, then exit.
    The parent kills a child that cannot get here (see handle.WALL_CLOCK_GRACE_SECONDS)."""
    messages = limits.messages()

    def stop(reason: str, code: int):
        def handler(signum, frame):
            recorder.finish(error=messages[reason])
            os._exit(code)

        return handler

    signal.signal(signal.SIGALRM, stop("time", 124))
    signal.signal(signal.SIGXCPU, stop("cpu", 152))
    signal.alarm(limits.max_seconds)


def _exit_on_sigterm(recorder: Recorder) -> None:
    """Cancel means stop now: waiting for in-flight downloads (Scrapy's graceful stop) can take a timeout."""

    def handler(signum, frame):
        recorder.finish(error="cancelled")
        os._exit(143)

    signal.signal(signal.SIGTERM, handler)


def _watch_parent(recorder: Recorder) -> None:
    """A crawl nobody will read is wasted load on someone's site: stop when the parent process is gone."""
    from twisted.internet import reactor, task

    parent = os.getppid()

    def check() -> None:
        if os.getppid() != parent:
            recorder.finish(error="parent process exited")
            os._exit(1)

    reactor.callWhenRunning(task.LoopingCall(check).start, PARENT_CHECK_SECONDS, now=False)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
