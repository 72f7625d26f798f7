"""Website crawler for KB website sources (no Django; Scrapy runs in a child process).

    handle = start_crawl(CrawlConfig(start_url="https://docs.example.com/"), out_dir=tmp)
    handle.poll()          # CrawlProgress: pages_found / pages_processed / pages_failed / finished / error
    for page in handle.pages(): ...   # only results not returned before
    handle.cancel()        # or handle.wait()

Behaviour
- Scope: only the start URL's scheme + host + port (after any redirect of the start URL itself, so
  http -> https or example.com -> www.example.com work). Only http(s) links from <a>/<area> are followed;
  #fragments are dropped and URLs canonicalised (case of scheme/host, default port, dot segments; query
  parameter order is ignored for de-duplication). Redirects that leave the site are recorded as skipped.
- Depth: the start page is depth 0; max_depth is the number of link hops allowed, so max_depth=1 fetches
  the start page and the pages it links to, and links on the deepest pages are not followed.
- max_pages counts stored HTML pages only; the crawl stops as soon as that many are stored. Errors,
  non-HTML responses and skipped pages are recorded (one PageResult per URL) but do not count. At most
  max(10 x max_pages, 500) URLs are queued, which bounds crawls whose include_patterns rarely match.
- Patterns are regexes searched anywhere in the canonical URL, on RE2 (linear time; no look-around or
  back-references: see patterns.py), or, with a "glob:" prefix, shell globs that must match the whole URL
  ("glob:*/docs/*"); at most 50 per list, 500 characters each. include_patterns (if any): only matching
  pages are stored, but links are still followed through non-matching pages (recorded as skipped "not
  matched by include_patterns"), since index pages are often outside the pattern. exclude_patterns:
  matching URLs are neither fetched, stored nor followed; excluding the start URL is a validation error.
- Addresses (SSRF): each host is resolved once per crawl and every address of the answer vetted (netguard.py);
  connections go to exactly that answer (resolver.py), redirect hops and robots.txt included. Refused hosts
  get error "refused: <host> resolves to a private or local address (...)" or "refused: <host> does not
  resolve (...)". No proxy is ever used, whatever http_proxy / https_proxy say.
- Limits (CrawlLimits, from CRAWL_CPU_SECONDS / CRAWL_MEMORY_MB / CRAWL_MAX_SECONDS): CPU time and address
  space of the child, and wall-clock time of the crawl; past one it ends with progress.error "crawl stopped:
  ..." naming the setting, keeping the pages recorded so far.
- Non-HTML responses are recorded with skipped_reason "not HTML (<type>)" without downloading the body.
  Failures get error "HTTP 404", "connection refused", "timeout after 30s", ...
  Pages whose extracted text duplicates an earlier page are skipped as "duplicate of <url>".
- If the start URL fails (or is not HTML) the crawl ends with progress.error "start URL failed: ...".
  A crashed or killed child is reported as finished with an error; cancel() reports error "cancelled".
- Output (out_dir): pages.jsonl (a JSON line per URL, flushed), progress.json (atomically replaced),
  crawler.log (the child's warnings).
"""

from drafts.crawler.config import CrawlConfig, validate_crawl_config
from drafts.crawler.handle import CrawlHandle, crawl, start_crawl
from drafts.crawler.results import CrawlProgress, PageResult

__all__ = [
    "CrawlConfig",
    "CrawlHandle",
    "CrawlProgress",
    "PageResult",
    "crawl",
    "start_crawl",
    "validate_crawl_config",
]
