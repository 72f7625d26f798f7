"""Writing a file that holds tenant plaintext (an export) where an operator asked for it: readable by its owner
only (0600 from the first byte, whatever the umask), and never half-written under the final name — the bytes go
to `.<name>.partial` beside it and are renamed into place only when complete; a failure leaves neither."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


class OutputExists(FileExistsError):
    """The path exists and overwriting was not asked for."""


@contextmanager
def private_output(path: Path, *, overwrite: bool = False) -> Iterator[BinaryIO]:
    """A binary file (seekable: opened w+b) that becomes `path` when the block ends without an exception."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExists(f"{path} exists (use --force to overwrite)")
    partial = path.with_name(f".{path.name}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w+b") as out:
            yield out
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
