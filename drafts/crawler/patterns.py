"""Include/exclude URL patterns on RE2, a linear-time regex engine.

Patterns come from users and run against URLs that strangers control (in the crawl, and against the start
URL inside the web request that saves them). Python's backtracking `re` takes exponential time on patterns
such as `(a+)+b`; RE2 matches any pattern in time linear in the URL, and refuses the constructs that need
backtracking (look-around, back-references), which then become a clear validation error.

A pattern is a regex searched anywhere in the canonical URL, or, with the "glob:" prefix, a shell glob that
must match the whole URL ("glob:*/docs/*"). Globs are translated here, not by fnmatch.translate, whose
output uses look-ahead and back-references that RE2 rejects.
"""

from __future__ import annotations

import re2

# An explicit prefix because guessing is unsafe: "/docs/*" is a valid regex that means something else.
GLOB_PREFIX = "glob:"
MAX_PATTERN_LENGTH = 500
MAX_PATTERNS = 50
# Memory RE2 may use for one compiled pattern; a pattern whose program is bigger (a{1000}{1000}-like
# repetition) fails to compile instead of growing.
MAX_PROGRAM_BYTES = 1 << 20


class PatternError(ValueError):
    """str() names the pattern and the reason."""


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every rejected pattern to stderr
    options.max_mem = MAX_PROGRAM_BYTES
    return options


def glob_to_regex(glob: str) -> str:
    """A shell glob as an anchored RE2 regex: * any run, ? one character, [abc] / [!abc] a class."""
    out, i = [], 0
    while i < len(glob):
        char = glob[i]
        i += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            end = glob.find("]", i + 1 if glob[i : i + 1] in ("!", "]") else i)
            if end == -1:
                out.append(r"\[")
                continue
            body = glob[i:end]
            i = end + 1
            negate = body.startswith("!")
            body = body[1:] if negate else body
            body = body.replace("\\", r"\\").replace("[", r"\[").replace("]", r"\]")
            out.append(f"[{'^' if negate else ''}{body}]")
        else:
            out.append(re2.escape(char))
    return r"\A(?s:" + "".join(out) + r")\z"


def compile_pattern(pattern: str):
    """The compiled RE2 program for one pattern; PatternError (naming it) if it is unusable."""
    if not isinstance(pattern, str):
        raise PatternError("must be a string")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"pattern {pattern[:40]!r}... is longer than {MAX_PATTERN_LENGTH} characters")
    glob = pattern.startswith(GLOB_PREFIX)
    source = glob_to_regex(pattern[len(GLOB_PREFIX) :]) if glob else pattern
    try:
        return re2.compile(source, _options())
    except re2.error as exc:
        raise PatternError(f"invalid pattern {pattern!r} ({_reason(exc)})") from None


def compile_patterns(patterns: list[str]) -> list:
    return [compile_pattern(p) for p in patterns]


def matches_any(patterns: list, url: str) -> bool:
    """Regexes are searched anywhere in the URL; globs are anchored at both ends by their translation."""
    return any(p.search(url) is not None for p in patterns)


def check_patterns(patterns) -> list[str]:
    """The non-blank patterns, stripped; PatternError on the first unusable one or when there are too many."""
    if not isinstance(patterns, list | tuple) or not all(isinstance(p, str) for p in patterns):
        raise PatternError("must be a list of strings")
    cleaned = [p.strip() for p in patterns if p.strip()]
    if len(cleaned) > MAX_PATTERNS:
        raise PatternError(f"at most {MAX_PATTERNS} patterns")
    for pattern in cleaned:
        compile_pattern(pattern)
    return cleaned


def _reason(exc: Exception) -> str:
    message = exc.args[0] if exc.args else str(exc)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    if "invalid perl operator" in message or "invalid escape sequence: \\" in message:
        message += "; look-around and back-references are not supported"
    return message
