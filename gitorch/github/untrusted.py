"""Text from issues and comments is untrusted: the model sees what a reader sees on GitHub, no more.

Removed, because GitHub does not show it (or shows something else in its place):

- HTML comments ``<!-- ... -->`` and Markdown link reference definitions (``[//]: # (...)``,
  ``[label]: url "title"``), which render as nothing;
- invisible characters: format and control characters (zero-width, bidirectional overrides and
  isolates, tag characters U+E0000-E007F), private-use and unassigned code points, variation
  selectors (U+FE00-FE0F, U+E0100-E01EF: after an emoji they can spell a whole sentence), the
  combining grapheme joiner and the Hangul fillers; numeric character references (``&#x200B;``)
  that stand for one of them;
- image alt text (an image shows as ``[image]``), link titles (shown only on hover), and every HTML
  attribute but ``href`` (``title=``, ``alt=``, ``data-*``, ``aria-*``, ``style``...);
- elements whose content is not shown: ``script``, ``style``, ``template``, ``noscript``, ``svg``
  and the like, and any element marked ``hidden`` or styled invisible (display:none,
  visibility:hidden, zero size or opacity).

Kept: ``<details>`` and its summary. A reader sees the folded text with one click, so it is part of
what the issue says.
"""

from __future__ import annotations

import re
import unicodedata

# GitHub keeps at most 65,536 characters in a body; more is cut before any pattern runs.
MAX_INPUT_CHARS = 262_144

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_LABEL = r"\[(?!\^)(?:[^\[\]\\\n]|\\.){1,999}\]"  # [^1]: is a footnote, which GitHub shows
_TITLE = r"(?:\"[^\"]{0,1000}\"|'[^']{0,1000}'|\([^()]{0,1000}\))"
_LINK_DEFINITION = re.compile(
    rf"^[ ]{{0,3}}{_LABEL}:[ \t]*\n?[ \t]*(?:<[^>\n]*>|\S+)(?:[ \t]*\n?[ \t]*{_TITLE})?[ \t]*$", re.M)
_IMAGE = re.compile(r"!\[(?:[^\[\]\\]|\\.){0,1000}\](?:\([^()\s]{0,2000}(?:\s+" + _TITLE + r")?\s*\)|\[[^\]\n]*\])?")
_LINK_TITLE = re.compile(r"(\]\(\s*(?:<[^>\n]{0,2000}>|[^\s()]{1,2000}))\s+" + _TITLE + r"\s*\)")
_UNSHOWN = "script|style|template|noscript|iframe|object|embed|svg|math|title|head|textarea|select|frameset"
_UNSHOWN_START = re.compile(rf"<({_UNSHOWN})\b[^>]{{0,2000}}>", re.I)
_INVISIBLE_STYLE = (r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0|opacity\s*:\s*0(?![.\d]*[1-9])"
                    r"|(?:max-)?(?:width|height)\s*:\s*0(?![.\d]*[1-9])")
_HIDDEN_START = re.compile(
    r"<([a-z][a-z0-9-]*)\b(?=[^>]{0,2000}(?:\shidden\b|\sstyle\s*=\s*[\"'][^\"']{0,2000}(?:" + _INVISIBLE_STYLE
    + r")))[^>]{0,2000}>", re.I)
# Elements that have no content and no end tag: hiding one hides nothing else.
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
_IMG_TAG = re.compile(r"<img\b[^>]{0,2000}>", re.I)
_TAG = re.compile(r"<(/?)([a-z][a-z0-9-]*)\b([^>]{0,2000})>", re.I)
_HREF = re.compile(r"""\shref\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""", re.I)
_NUMERIC_REFERENCE = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,6})|([0-9]{1,7}));")
# Fenced code blocks (to their closing fence, or the end) and inline code spans, kept as written.
_CODE = re.compile(r"(^[ ]{0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^[ ]{0,3}\2[ \t]*$|\Z)|`[^`\n]{1,2000}`)", re.M | re.S)
_KEEP = {"\t", "\n", "\r"}
_INVISIBLE_LETTERS = {"\u034f", "\u115f", "\u1160", "\u3164", "\uffa0", "\u180e"}


def _visible(ch: str) -> bool:
    if ch in _KEEP:
        return True
    code = ord(ch)
    if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF or 0xE0000 <= code <= 0xE007F:
        return False  # variation selectors and tag characters
    if ch in _INVISIBLE_LETTERS:
        return False
    return unicodedata.category(ch) not in ("Cf", "Cc", "Co", "Cn", "Cs")


def _reference(match: re.Match[str]) -> str:
    """A numeric character reference that stands for an invisible character goes; others stay as written."""
    code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
    if code > 0x10FFFF:
        return ""
    return match.group(0) if _visible(chr(code)) else ""


def _tag(match: re.Match[str]) -> str:
    """A tag without its attributes, except a link's address."""
    closing, name, attributes = match.groups()
    href = _HREF.search(attributes) if name.lower() == "a" and not closing else None
    return f"<{closing}{name}{href.group(0) if href else ''}>"


def _without_elements(text: str, start: re.Pattern[str]) -> str:
    """``text`` without each element whose start tag ``start`` finds, up to its matching end tag
    (same-name elements inside it counted), or to the end when it is never closed."""
    out, pos = [], 0
    while (m := start.search(text, pos)) is not None:
        out.append(text[pos:m.start()])
        name = m.group(1).lower()
        end = m.end()
        if name not in _VOID and not m.group(0).endswith("/>"):
            tags = re.compile(rf"<(/?){re.escape(name)}\b[^>]{{0,2000}}>", re.I)
            depth = 1
            while depth:
                tag = tags.search(text, end)
                if tag is None:
                    end = len(text)
                    break
                depth += -1 if tag.group(1) else 1
                end = tag.end()
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _rendered(text: str) -> str:
    """Markdown and HTML outside code, without what GitHub does not show."""
    text = _HTML_COMMENT.sub("", text)
    text = _without_elements(text, _UNSHOWN_START)
    text = _without_elements(text, _HIDDEN_START)
    text = _IMG_TAG.sub("[image]", text)
    text = _TAG.sub(_tag, text)
    text = _LINK_DEFINITION.sub("", text)
    text = _IMAGE.sub("[image]", text)
    return _LINK_TITLE.sub(r"\1)", text)


def clean_text(text: str | None, limit: int = 20_000) -> str:
    """``text`` as a reader sees it on GitHub (see the module's docstring), NFC, at most ``limit``
    characters."""
    if not text:
        return ""
    text = text[:MAX_INPUT_CHARS].replace("\r\n", "\n")
    text = "".join(ch for ch in text if _visible(ch))
    text = _NUMERIC_REFERENCE.sub(_reference, text)
    # Code is shown as it is written: the Markdown and HTML rules apply only outside it.
    out, last = [], 0
    for code in _CODE.finditer(text):
        out += [_rendered(text[last:code.start()]), code.group(0)]
        last = code.end()
    text = "".join([*out, _rendered(text[last:])])
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()[:limit]
