"""/docs and /redoc work on a machine with no internet: every script, style and icon they load is served here."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest


class _Assets(HTMLParser):
    """The URLs a page loads: script src, link href, img src, and any URL written inside inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(str(values[name]))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.urls.extend(re.findall(r"""["'`]((?:https?:)?//[^"'`]+|/[^"'`\s]*)["'`]""", data))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_local_assets_and_those_are_served(client: httpx.AsyncClient, page: str):
    response = await client.get(page)
    assert response.status_code == 200
    parser = _Assets()
    parser.feed(response.text)
    assert parser.urls, "the page loads nothing"
    external = [url for url in parser.urls if re.match(r"(?:https?:)?//", url)]
    assert not external, f"{page} loads from other hosts: {external}"
    scripts = [url for url in parser.urls if url.endswith(".js")]
    assert scripts, parser.urls
    for url in parser.urls:
        if url.endswith((".js", ".css", ".png")):
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000, url
    assert "/openapi.json" in parser.urls or "/openapi.json" in response.text


async def test_swagger_oauth2_redirect_page_is_served(client: httpx.AsyncClient):
    response = await client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "oauth2" in response.text.lower()
