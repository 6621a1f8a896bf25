"""Follow every link of the reports site from a page, as a reader clicking through would."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for name in ("href", "src"):
            if a.get(name) and not (tag == "svg" or a.get(name, "").startswith("http://www.w3")):
                self.links.append(a[name])


@dataclass
class Crawl:
    pages: set[Path] = field(default_factory=set)
    files: set[Path] = field(default_factory=set)
    broken: list[str] = field(default_factory=list)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def crawl(root: Path, start: str = "index.html") -> Crawl:
    """Every page and file reachable from ``start`` inside ``root``, and every broken link
    (a target missing, outside the folder, absolute, or a ``#fragment`` the page lacks)."""
    root = root.resolve()
    result = Crawl()
    parsed: dict[Path, _Links] = {}
    queue = [root / start]
    while queue:
        page = queue.pop()
        if page in result.pages:
            continue
        result.pages.add(page)
        parsed.setdefault(page, _parse(page))
        for link in parsed[page].links:
            parts = urlsplit(link)
            where = f"{page.relative_to(root)} -> {link}"
            if parts.scheme or parts.netloc or link.startswith("/"):
                result.broken.append(f"{where} (not relative)")
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.is_relative_to(root) or not target.is_file():
                result.broken.append(f"{where} (missing)")
                continue
            result.files.add(target)
            if target.suffix == ".html":
                if parts.fragment:
                    ids = parsed.setdefault(target, _parse(target)).ids
                    if parts.fragment not in ids:
                        result.broken.append(f"{where} (no #{parts.fragment})")
                queue.append(target)
    return result
