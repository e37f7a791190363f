"""The subset of Markdown a dataset card uses, as HTML for the report: escaped first, so nothing in it runs.

Headings, paragraphs, bullet and numbered lists, pipe tables, fenced code, quotes, inline code, bold,
italics and http(s) links; a Hugging Face card's YAML front matter is split off and shown separately.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

_INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<b>\1</b>"),
    (re.compile(r"(?<![*\w])\*([^*\n]+)\*(?!\w)"), r"<i>\1</i>"),
    # quotes and angle brackets never belong to the URL: the text is escaped with quote=False
    (re.compile(r"\[([^\]]+)\]\((https?://[^)\s\"'<>]+)\)"), r'<a href="\2">\1</a>'),
]


def markdown_html(text: str) -> str:
    """The subset of Markdown a dataset card uses: headings, lists, tables, code blocks, quotes, links.

    The text is escaped first, so any HTML in it shows as text; links are only made for http(s) URLs.
    """
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped:
            i += 1
        elif stripped.startswith("```"):
            block, i = _take_while(lines, i + 1, lambda s: not s.strip().startswith("```"))
            out.append(f"<pre><code>{escape(chr(10).join(block))}</code></pre>")
            i += 1  # the closing fence
        elif match := _HEADING.match(stripped):
            level = min(len(match.group(1)) + 2, 6)  # the card's "#" sits under the report's section heading
            out.append(f"<h{level}>{_inline(match.group(2))}</h{level}>")
            i += 1
        else:
            out.append(_block(lines, i, stripped))
            i = _block_end(lines, i, stripped)
    return "".join(out)


_HEADING = re.compile(r"(#{1,6})\s+(.*)")
_LIST_ITEM = re.compile(r"\s*([-*+]|\d+[.)])\s+(.*)")


def _block_kind(stripped: str) -> str:
    if stripped.startswith("|"):
        return "table"
    if _LIST_ITEM.match(stripped):
        return "list"
    if stripped.startswith(">"):
        return "quote"
    return "paragraph"


def _continues(kind: str, line: str) -> bool:
    stripped = line.strip()
    if not stripped:
        return False
    if kind == "table":
        return stripped.startswith("|")
    if kind == "list":
        return bool(_LIST_ITEM.match(line)) or line.startswith("  ")
    if kind == "quote":
        return stripped.startswith(">")
    return (
        _block_kind(stripped) == "paragraph"
        and not stripped.startswith("```")
        and not _HEADING.match(stripped)
    )


def _block_end(lines: list[str], start: int, stripped: str) -> int:
    kind = _block_kind(stripped)
    end = start + 1  # the first line always belongs to its block, so parsing always advances
    while end < len(lines) and _continues(kind, lines[end]):
        end += 1
    return end


def _block(lines: list[str], start: int, stripped: str) -> str:
    block = lines[start : _block_end(lines, start, stripped)]
    kind = _block_kind(stripped)
    if kind == "table":
        return _md_table(block)
    if kind == "list":
        return _md_list(block)
    if kind == "quote":
        return f"<blockquote>{_inline(' '.join(b.strip()[1:].strip() for b in block))}</blockquote>"
    return f"<p>{_inline(' '.join(b.strip() for b in block))}</p>"


def _take_while(lines: list[str], start: int, keep: Any) -> tuple[list[str], int]:
    end = start
    while end < len(lines) and keep(lines[end]):
        end += 1
    return lines[start:end], end


def _inline(text: str) -> str:
    html = escape(text, quote=False)
    for pattern, replacement in _INLINE:
        html = pattern.sub(replacement, html)
    return html


def _md_list(block: list[str]) -> str:
    ordered = bool(re.match(r"\s*\d+[.)]\s+", block[0]))
    items: list[str] = []
    for line in block:
        match = _LIST_ITEM.match(line)
        if match:
            items.append(match.group(2))
        elif items:
            items[-1] += " " + line.strip()
    tag = "ol" if ordered else "ul"
    return f"<{tag}>{''.join(f'<li>{_inline(item)}</li>' for item in items)}</{tag}>"


def _md_table(block: list[str]) -> str:
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in block]
    rows = [r for r in rows if not all(re.fullmatch(r":?-{2,}:?", c) for c in r if c)]
    if not rows:
        return ""
    head = "".join(f"<th>{_inline(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def split_front_matter(text: str) -> tuple[str, str]:
    """A Hugging Face card's YAML header (between leading ``---`` lines) and the Markdown after it."""
    match = re.match(r"---\r?\n(.*?)\r?\n---\r?\n", text, re.S)
    return (match.group(1), text[match.end() :]) if match else ("", text)
