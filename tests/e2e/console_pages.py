"""What every console page a browser test visits goes through: axe-core, screenshots at
1280 and 390 px, no horizontal scroll on a phone, and (in French) no English UI string.

Screenshots go to tests/e2e/screenshots/console/<language>/<page>-<width>.png.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from axe_playwright_python.async_playwright import Axe
from babel.messages.pofile import read_po
from playwright.async_api import Browser, BrowserContext, Page

from platform_service.web.i18n import po_path
from tests.e2e.test_preview_browser import CHROMIUM, CHROMIUM_ARGS

SCREENSHOTS = Path(__file__).parent / "screenshots" / "console"
WIDTHS = (1280, 390)
BLOCKING_IMPACTS = {"serious", "critical"}

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Walk", "check_console_page"]

# Every text a person reads on the page: text nodes and the attributes that are read
# aloud or shown. Content the page marks as English (`lang="en"`: messages the
# services only write in English) and code samples are data, not UI.
_TEXTS_JS = """() => {
  const skip = el => el.closest('[lang="en"], code, pre, script, style');
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.replace(/\\s+/g, ' ').trim();
    if (text && !skip(node.parentElement)) out.push(text);
  }
  for (const el of document.querySelectorAll('[aria-label], [placeholder], [title], [data-label], input[type=submit], [data-copied], [data-failed]')) {
    if (skip(el)) continue;
    for (const name of ['aria-label', 'placeholder', 'title', 'data-label', 'data-copied', 'data-failed']) {
      if (el.getAttribute(name)) out.push(el.getAttribute(name).trim());
    }
    if (el.matches('input[type=submit]')) out.push(el.value.trim());
  }
  out.push(document.title);
  return out;
}"""


@cache
def english_patterns() -> tuple[re.Pattern[str], ...]:
    """A pattern per catalogue msgid whose French differs: a text matching one is English
    left untranslated on a French page."""
    with po_path("fr").open("rb") as po:
        catalog = read_po(po, locale="fr")
    patterns = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in ids:
            if msgid in strings:
                continue  # the same word in both languages ("Code", "Message")
            parts = re.split(r"%\(\w+\)[sd]", msgid)
            body = r".+?".join(re.escape(p) for p in parts)
            patterns.append(re.compile(rf"(?:^|.*\W){body}(?:\W.*|$)"))
    return tuple(patterns)


@dataclass
class Walk:
    """One language's tour of the console: every visited page is checked the same way."""

    browser: Browser
    language: str
    visited: list[str] = field(default_factory=list)

    async def context(self) -> BrowserContext:
        return await self.browser.new_context(
            locale="fr-FR" if self.language == "fr" else "en-US",
            extra_http_headers={"Accept-Language": "fr" if self.language == "fr" else "en"},
            viewport={"width": WIDTHS[0], "height": 900},
        )

    def t(self, english: str, french: str) -> str:
        """The text a test looks for, in the walk's language."""
        return french if self.language == "fr" else english

    async def check(self, page: Page, name: str) -> None:
        """axe-core, both widths' screenshots, no sideways scroll at 390 px, the language."""
        self.visited.append(name)
        await check_console_page(page, name, self.language)


async def _fits_a_phone(page: Page, name: str) -> None:
    overflow: dict[str, Any] = await page.evaluate(
        """() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
        signOut: (() => { const b = document.querySelector('[data-testid=sign-out]');
          if (!b) return null; const r = b.getBoundingClientRect();
          const h = document.querySelector('header').getBoundingClientRect();
          return {right: r.right, bottom: r.bottom, headerBottom: h.bottom}; })()})"""
    )
    assert overflow["scroll"] <= overflow["inner"], f"{name} scrolls sideways at 390 px"
    sign_out = overflow["signOut"]
    if sign_out is not None:
        assert sign_out["right"] <= overflow["inner"], f"{name}: Sign out leaves the screen"
        assert sign_out["bottom"] <= sign_out["headerBottom"], f"{name}: Sign out left the header"


def _no_english(name: str, texts: list[str]) -> None:
    left = sorted({text for text in texts for p in english_patterns() if p.fullmatch(text)})
    assert not left, f"{name}: English UI text on a French page: {left}"


async def check_console_page(page: Page, name: str, language: str) -> None:
    """The checks every console page a test visits goes through."""
    await page.wait_for_load_state()
    results = (await Axe().run(page)).response
    blocking = [v for v in results["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"{name}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}" for v in blocking
    )
    assert await page.evaluate("document.documentElement.lang") == language, name
    if language == "fr":
        _no_english(name, await page.evaluate(_TEXTS_JS))
    folder = SCREENSHOTS / language
    folder.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or {"width": WIDTHS[0], "height": 900}
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        if width < 600:
            await _fits_a_phone(page, name)
        await page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
    await page.set_viewport_size(size)
