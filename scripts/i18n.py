"""Translations: extract messages per app and compile them, without GNU gettext at install time.

    python scripts/i18n.py extract   # needs GNU gettext (xgettext): refreshes every app's .po
    python scripts/i18n.py compile   # pure Python (babel): writes the .mo files beside them
    python scripts/i18n.py check     # lists untranslated or fuzzy German entries, exit 1 if any

Each app keeps its own catalogue in ``<app>/locale`` so that work on one app never touches
another's file. German is the language people read; English msgids are the source.
"""

import os
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent / "src" / "mahnwerk"
APPS = ["intake", "cases", "banking", "dunning", "collection", "web", "demo", "ops"]


def catalogues():
    for app in APPS:
        for po in sorted((ROOT / app / "locale").glob("*/LC_MESSAGES/django.po")):
            yield app, po


def extract() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mahnwerk.settings"}
    for app in APPS:
        app_dir = ROOT / app
        if not app_dir.exists():
            continue
        (app_dir / "locale").mkdir(exist_ok=True)
        subprocess.run(["django-admin", "makemessages", "-l", "de", "-l", "en", "--no-location",
                        "--no-obsolete"], cwd=app_dir, env=env, check=True)


def compile_all() -> None:
    for _app, po in catalogues():
        with po.open("rb") as handle:
            catalog = read_po(handle)
        with po.with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        print(f"compiled {po.relative_to(ROOT)}")


def untranslated() -> list[str]:
    missing = []
    for app, po in catalogues():
        if po.parent.parent.name != "de":
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle)
        for message in catalog:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.fuzzy or not all(strings):
                missing.append(f"{app}: {message.id!r}")
    return missing


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "compile"
    if command == "extract":
        extract()
    elif command == "compile":
        compile_all()
    elif command == "check":
        problems = untranslated()
        print("\n".join(problems) or "every German entry is translated")
        sys.exit(1 if problems else 0)
    else:
        sys.exit(__doc__)
