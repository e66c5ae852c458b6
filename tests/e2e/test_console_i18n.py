"""The console's catalogues: every string the console marks is in the French `.po`, each
with a French translation, and what the service runs is compiled from that `.po`.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from platform_service import web
from platform_service.web.i18n import negotiate, po_path, translations

WEB = Path(web.__file__).parent


def french() -> dict[str | tuple[str, ...], str | tuple[str, ...]]:
    with po_path("fr").open("rb") as po:
        catalog = read_po(po, locale="fr")
    return {m.id: m.string for m in catalog if m.id}


def extracted() -> set[str | tuple[str, ...]]:
    with (WEB / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: set[str | tuple[str, ...]] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(WEB),
        method_map,
        options_map,
        keywords={"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)},
    ):
        found.add(message)
    return found


def test_the_french_catalogue_has_no_empty_msgstr() -> None:
    empty = [
        msgid
        for msgid, msgstr in french().items()
        if not (all(msgstr) if isinstance(msgstr, tuple) else msgstr.strip())
    ]
    assert not empty, f"untranslated in fr/messages.po: {empty}"


def test_the_catalogue_holds_exactly_the_strings_the_console_marks() -> None:
    in_po = set(french())
    in_sources = extracted()
    assert in_sources - in_po == set(), "run pybabel extract + update (web/i18n.py)"
    assert in_po - in_sources == set(), "obsolete msgids: run pybabel update"


def test_the_running_catalogue_is_compiled_from_the_po() -> None:
    for msgid, msgstr in french().items():
        if isinstance(msgid, str):
            assert translations("fr").gettext(msgid) == msgstr
    assert translations("en").gettext("Sign out") == "Sign out"


def test_accept_language_and_the_switcher_pick_the_language() -> None:
    assert negotiate(None, "fr-CA,fr;q=0.9,en;q=0.8") == "fr"
    assert negotiate(None, "de-DE, en;q=0.5, fr;q=0.7") == "fr"
    assert negotiate(None, "de, es") == "en"
    assert negotiate(None, "fr;q=0") == "en"
    assert negotiate("en", "fr") == "en"
    assert negotiate("xx", "fr") == "fr"
