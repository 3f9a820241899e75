"""Text from issues and comments is untrusted: what a person cannot see must not reach a prompt.

Hidden HTML comments (``<!-- ... -->``, which GitHub does not render) and invisible Unicode (zero-width
characters, bidirectional controls, tag characters, other format characters) are removed; what a
reader sees on GitHub is what the model gets.
"""

from __future__ import annotations

import re
import unicodedata

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
# Cc (controls other than tab and newlines) and Cf (format: zero-width, bidi, tags) are invisible.
_KEEP = {"\t", "\n", "\r"}


def _visible(ch: str) -> bool:
    if ch in _KEEP:
        return True
    category = unicodedata.category(ch)
    if category in ("Cf", "Cc", "Co", "Cn"):
        return False
    return not 0xE0000 <= ord(ch) <= 0xE007F  # tag characters (Cf too; kept explicit)


def clean_text(text: str | None, limit: int = 20_000) -> str:
    """``text`` as a reader sees it: no hidden comments, no invisible characters, NFC, at most
    ``limit`` characters."""
    if not text:
        return ""
    text = _HTML_COMMENT.sub("", text)
    text = "".join(ch for ch in text if _visible(ch))
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n")
    return text.strip()[:limit]
