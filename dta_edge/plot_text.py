"""Text that matplotlib must show as written.

Matplotlib reads ``$...$`` as math and fails on what is not valid math; a system or model name a
user chose (``gpt-$5``, ``a$b$c``) must be drawn literally, never parsed.
"""

from __future__ import annotations


def literal(text: object) -> str:
    r"""``text`` with every ``$`` escaped, so matplotlib draws it as a plain character."""
    return str(text).replace("$", r"\$")
