"""The report's message catalogs: what each language lacks, and adding the new messages to one.

    python scripts/messages.py check            # each language: missing, empty, stale, placeholders
    python scripts/messages.py add de FILE.po   # append the messages de lacks to its FILE.po
                                                #   (empty translations, with where each is written)

The catalogs are ``src/analysis/report/locale/<language>/LC_MESSAGES/*.po`` (any number of files
per language, merged when the report runs: see ``analysis.report.i18n``). English is the source:
its messages are the ids, written in the Python (``i18n.gettext("...")``) and the templates
(``{{ _("...") }}``, ``{% trans %}``). ``check`` exits 1 when a catalog is incomplete.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from analysis import __version__
from analysis.report import i18n

#: ``%(name)s`` (gettext, templates) and ``{name}`` (str.format, the YAML word lists)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")


def key(msgid: str, context: str | None) -> tuple[str, str | None]:
    return msgid, context


def load(language: str) -> dict[tuple[str, str | None], tuple[Path, object]]:
    """Every message of ``language``'s catalogs -> (file, its translation)."""
    out: dict[tuple[str, str | None], tuple[Path, object]] = {}
    for path in i18n.catalog_files(language):
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=i18n.LOCALES[language])
        for m in catalog:
            if not m.id:
                continue
            msgid = m.id[0] if isinstance(m.id, tuple | list) else m.id
            out[key(msgid, m.context)] = (path, m.string)
    return out


def problems(language: str) -> list[str]:
    """What ``language``'s catalogs lack or get wrong, one line each (empty: complete)."""
    source = {key(m.id, m.context): m for m in i18n.source_messages()}
    have = load(language)
    out = []
    for k, m in source.items():
        if k not in have:
            out.append(f"{language}: missing {m.id!r} ({m.where})")
            continue
        string = have[k][1]
        forms = list(string) if isinstance(string, tuple | list) else [string]
        if not all(forms) or (m.plural is not None and len(forms) < 2):
            out.append(f"{language}: no translation for {m.id!r} ({m.where})")
            continue
        want = _placeholders(m.id)
        for form in forms:
            got = _placeholders(form)
            if got - want or (m.plural is None and want - got):
                out.append(
                    f"{language}: placeholders of {m.id!r} are {sorted(want)}, "
                    f"the translation has {sorted(got)}"
                )
    for k, (path, _) in have.items():
        if k not in source:
            out.append(f"{language}: {path.name} has {k[0]!r}, which the source no longer uses")
    return out


def _placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def add(language: str, path: Path) -> int:
    """Append the messages ``language`` lacks to ``path`` (created if new); how many."""
    have = load(language)
    if path.exists():
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=i18n.LOCALES[language])
    else:
        catalog = Catalog(
            locale=i18n.LOCALES[language],
            project="Outside-In",
            header_comment=f"# The Outside-In report's messages in {language}: {path.name}.",
            version=__version__,
            msgid_bugs_address="",
            last_translator="Outside-In contributors",
            language_team=language,
            revision_date=dt.datetime.now(dt.UTC),
            fuzzy=False,
        )
    added = 0
    for m in i18n.source_messages():
        k = key(m.id, m.context)
        if k in have or catalog.get(m.id, context=m.context) is not None:
            continue
        msgid = (m.id, m.plural) if m.plural else m.id
        string = ("",) * catalog.num_plurals if m.plural else ""
        catalog.add(msgid, string, locations=[(m.where, None)], context=m.context)
        added += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(fh, catalog, width=100, omit_header=False, sort_output=False)
    return added


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        lines = [line for lang in i18n.LOCALES if lang != i18n.SOURCE for line in problems(lang)]
        print("\n".join(lines) if lines else "every language has every message")
        return 1 if lines else 0
    if len(argv) == 3 and argv[0] == "add" and argv[1] in i18n.LOCALES:
        target = Path(argv[2])
        print(f"{add(argv[1], target)} messages added to {target}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
