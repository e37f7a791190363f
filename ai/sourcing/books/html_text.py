"""(X)HTML chapter documents to clean paragraphs of text, with the first heading as a title."""

from __future__ import annotations

import re
import warnings

from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

BLOCK_TAGS = (
    "p",
    "div",
    "section",
    "article",
    "blockquote",
    "pre",
    "li",
    "dt",
    "dd",
    "tr",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "figcaption",
    "aside",
    "header",
    "footer",
    "hr",
    "table",
    "ul",
    "ol",
)
HEADINGS = ("h1", "h2", "h3")
_INVISIBLE_TAGS = ("script", "style", "head", "nav", "svg", "math", "noscript", "template")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_PARAGRAPH_GAP = re.compile(r"\s*\n\s*\n\s*")
_LINE_GAP = re.compile(r" *\n *")


def html_to_text(markup: bytes | str) -> tuple[str, str]:
    """(first heading or <title>, text with one blank line between paragraphs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(markup, "lxml")
    title = _title(soup)
    for tag in soup.find_all(_INVISIBLE_TAGS):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(BLOCK_TAGS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    body = soup.body or soup
    return title, _tidy(body.get_text())


def _title(soup: BeautifulSoup) -> str:
    for tag in soup.find_all(HEADINGS, limit=1):
        text = _SPACES.sub(" ", tag.get_text(" ")).strip()
        if text:
            return text
    if soup.title and soup.title.string:
        return _SPACES.sub(" ", soup.title.string).strip()
    return ""


def _tidy(text: str) -> str:
    paragraphs = _PARAGRAPH_GAP.split(_SPACES.sub(" ", text))
    cleaned = (_LINE_GAP.sub("\n", p).strip() for p in paragraphs)
    return "\n\n".join(p for p in cleaned if p)
