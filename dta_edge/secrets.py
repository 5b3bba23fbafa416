"""Keep API keys off disk and out of logs.

A key reaches dta-edge one way only: the environment variable a recipe names (``api_key_env``).
A key written into a config is refused when the config is loaded, before anything is written;
text that came back from a server (error bodies can echo request headers) is redacted before it
is stored or printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

REDACTED = "***"

# Config keys that would hold a credential. "api_key_env" names a variable and is allowed.
_SECRET_KEY = re.compile(
    r"^(?:x[-_])?(?:api[-_]?key|apikey|access[-_]?token|auth[-_]?token|token|secret|"
    r"client[-_]?secret|password|passwd|authorization|bearer)$",
    re.IGNORECASE,
)
# Values that are credentials whatever key holds them.
_SECRET_VALUE = re.compile(r"^\s*(?:Bearer\s+\S+|sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{16,})\s*$")
# In free text (error bodies, argv): a credential after its name, a bearer token, a known prefix.
_IN_TEXT = (
    re.compile(
        r"""(?P<name>["']?(?:authorization|x-api-key|api[-_]?key|apikey|access[-_]?token|"""
        r"""auth[-_]?token|token|secret|password)["']?\s*[:=]\s*["']?)"""
        r"""(?:Bearer\s+)?(?P<value>[^\s"',;}&]+)""",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<name>\bBearer\s+)(?P<value>[^\s\"',;}]+)", re.IGNORECASE),
    re.compile(r"(?P<name>)(?P<value>\b(?:sk|hf)[-_][A-Za-z0-9_\-]{8,})"),
    # a URL's user info (https://user:key@host) and credential query parameters (?key=...)
    re.compile(r"(?P<name>://[^/\s:@]*:)(?P<value>[^@\s/]+)(?=@)"),
    re.compile(
        r"(?P<name>[?&](?i:key|api[-_]?key|token|access[-_]?token|auth|sig|signature)=)"
        r"(?P<value>[^&\s#\"']+)"
    ),
)
# Query parameters that carry a credential in a URL (Google's ?key=, Azure's ?sig=, ...).
_URL_SECRET_PARAMS = frozenset({
    "key", "api_key", "api-key", "apikey", "token", "access_token", "auth", "auth_token",
    "authorization", "password", "passwd", "secret", "client_secret", "sig", "signature",
    "x-api-key", "code",
})  # fmt: skip


def url_credentials(value: str) -> str | None:
    """What credential a URL carries (``user:key@host``, ``?key=``), or None for a clean one."""
    if "://" not in value:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.username or parts.password or "@" in parts.netloc:
        return "user info (user:key@host)"
    for name, _value in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in _URL_SECRET_PARAMS:
            return f"the query parameter '{name}'"
    return None


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials replaced by ``***``.

    Args:
        text: what a server answered, or a command line.
        secrets: values known to be secret (the key read from the environment); each is replaced
            wherever it appears, in whatever form the server echoed it.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    for pattern in _IN_TEXT:
        text = pattern.sub(lambda m: m.group("name") + REDACTED, text)
    return text


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The command line as run.json records it, credentials redacted."""
    return [redact(arg) for arg in argv]


def find_inline_secrets(
    data: Any, where: tuple[str | int, ...] = ()
) -> Iterator[tuple[str | int, ...]]:
    """Key paths in a parsed config that hold a credential instead of naming its variable."""
    if isinstance(data, dict):
        for key, value in data.items():
            path = (*where, key)
            if isinstance(key, str) and _SECRET_KEY.match(key) and value not in (None, ""):
                yield path
            else:
                yield from find_inline_secrets(value, path)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from find_inline_secrets(value, (*where, index))
    elif isinstance(data, str) and (_SECRET_VALUE.match(data) or url_credentials(data)):
        yield where


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL: what a credential is bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def check_endpoint_url(url: str) -> str:
    """``url`` if it is an http(s) endpoint without credentials in it, else a ValueError.

    The message never repeats the URL: it may hold the key it is refused for.
    """
    why = url_credentials(url)
    if why is not None:
        raise ValueError(
            f"the URL holds a credential ({why}); put the key in an environment variable and "
            "name it with api_key_env"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected http://host[:port]/path or https://..., got {url!r}")
    return url
