"""Every text the admin UI shows is translated: the Korean catalog is complete and consistent.

Messages are found the way a translator's tool finds them (Babel's extractors
over the templates and the Python code), so a new ``_("...")`` without a
Korean line fails here rather than showing English on a Korean page.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import xrm.admin_ui
from xrm.admin_ui import i18n

ROOT = Path(xrm.admin_ui.__file__).parent
PO = ROOT / "locale" / "ko" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def used_messages() -> set[str]:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2.ext:babel_extract")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = extract_from_dir(str(ROOT), method_map, options_map=options, keywords={"_": None})
    return {message for _file, _line, message, _comments, _context in found}


def test_the_extractor_sees_the_templates_and_the_code() -> None:
    used = used_messages()
    assert "Sign in" in used  # a template
    assert "There is no role named %(value)s." in used  # Python (admin_ui/messages.py)


def test_every_message_has_a_korean_translation_with_the_same_placeholders() -> None:
    with PO.open("rb") as source:
        catalog = read_po(source, locale="ko")
    korean = {m.id: m.string for m in catalog if m.id}
    missing = sorted(m for m in used_messages() if not korean.get(m))
    assert missing == []
    for msgid, msgstr in korean.items():
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(str(msgstr))), msgid


def test_no_message_is_listed_twice() -> None:
    """Babel keeps only one of two equal msgids: the other translation silently disappears."""
    ids = re.findall(r'^msgid "(.+)"$', PO.read_text(encoding="utf-8"), re.M)
    assert [m for m, n in Counter(ids).items() if n > 1] == []


@pytest.mark.parametrize("message", ["Users", "Roles", "You may not do that."])
def test_the_catalog_is_what_the_pages_use(message: str) -> None:
    i18n.translations.cache_clear()
    said = i18n.translations("ko").gettext(message)
    assert said != message and re.search("[가-힣]", said)
