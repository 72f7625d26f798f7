"""Container health check of the web process: GET /health on this machine; exit 0 only on a 200.

/health answers 200 when the database, Redis and at least one worker answer (privexbot/health.py). It is
exempt from the HTTPS redirect; the Host header is one the app serves (ALLOWED_HOSTS), the port is BIND's.
Standard library only, so a check costs no Django start-up."""

import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("BIND", "0.0.0.0:8000").rsplit(":", 1)[-1]
    hosts = [h.strip().lstrip(".") for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1").split(",") if h.strip()]
    host = next((h for h in hosts if h != "*"), "127.0.0.1")
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (a fixed loopback URL)
            return 0 if response.status == 200 else 1
    except OSError as exc:  # URLError, HTTPError (503), refused
        print(f"web health: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
