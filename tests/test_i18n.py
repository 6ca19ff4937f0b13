"""German is what people read: every message has its German text, and the compiled catalogues
match their sources (issue 2, item 1)."""

import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import i18n


def test_every_german_message_is_translated():
    assert i18n.untranslated() == []


def _key(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def _filled(value) -> bool:
    return all(value) if isinstance(value, tuple) else bool(value)


def test_the_compiled_catalogues_match_their_sources():
    for _app, po in i18n.catalogues():
        with po.open("rb") as handle:
            source = {_key(m.id): _key(m.string) for m in read_po(handle)
                      if m.id and _key(m.id) != _key(m.string) and _filled(m.string)}
        with po.with_suffix(".mo").open("rb") as handle:
            compiled = {_key(m.id): _key(m.string) for m in read_mo(handle)
                        if m.id and _key(m.id) != _key(m.string)}
        assert compiled == source, f"{po}: run `python scripts/i18n.py compile`"


def test_the_demo_speaks_german_first(settings):
    assert settings.LANGUAGE_CODE == "de"
    assert [code for code, _ in settings.LANGUAGES] == ["de", "en"]
    assert settings.TIME_ZONE == "Europe/Berlin"
