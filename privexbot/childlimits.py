"""Resource limits for child processes that handle untrusted input (the parse and crawl children).

`rlimits(...)` returns a `preexec_fn` for subprocess.Popen: it runs in the forked child before exec and only
calls setrlimit, which is async-signal-safe enough for a forked interpreter (no locks, no imports).
"""

from __future__ import annotations

import resource
from collections.abc import Callable

MB = 1024 * 1024


def rlimits(*, memory_mb: int, cpu_seconds: int, cpu_grace_seconds: int | None = None) -> Callable[[], None]:
    """Address space (RLIMIT_AS) of `memory_mb` and CPU time (RLIMIT_CPU) of `cpu_seconds`.

    At the soft CPU limit the kernel sends SIGXCPU, which the child may catch to report why it stops; with
    `cpu_grace_seconds` the hard limit follows that many seconds later and ends it with SIGKILL whatever it
    does. Without it the hard limit is left as it is (a child that raises its soft limit per item, like the
    parse child, needs that room). A hard limit is never raised above the one this process has."""

    def apply() -> None:
        limit = memory_mb * MB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = cpu_seconds if hard == resource.RLIM_INFINITY else min(cpu_seconds, hard)
        if cpu_grace_seconds is not None:
            wanted = soft + cpu_grace_seconds
            hard = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))

    return apply
