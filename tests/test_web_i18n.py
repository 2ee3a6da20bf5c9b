"""The console in French and English (imagear.web.i18n): every text the pages and routes word
has a French translation in web/locales/fr.po; the language comes from the switch's cookie,
else Accept-Language, else English; <html lang>, Content-Language, numbers in the language."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from web_helpers import add_records, bearer, client

WEB = Path(__file__).parent.parent / "src" / "imagear" / "web"
CALL = re.compile(r"""_\(\s*"((?:[^"\\]|\\.)*)"\s*\)|_\(\s*'((?:[^'\\]|\\.)*)'\s*\)""")
SAME = re.compile(r"^[\d.]+$|^a model: ")  # ranges and model names read the same in French
SAME_WORDS = {"Console", "Clip", "Version", "Pages", "clips", "Dates"}  # French words too


def words() -> list[str]:
    """Every text the console puts through gettext."""
    from imagear import settings
    from imagear.models.kenburns import MOTIONS
    from imagear.web.admin import LABELS
    from imagear.web.app import FILTER_LABELS

    found: list[str] = []
    for template in sorted((WEB / "templates").glob("*.html")):
        for match in CALL.finditer(template.read_text(encoding="utf-8")):
            found.append((match.group(1) or match.group(2) or "").replace("\\'", "'"))
    found += [*LABELS.values(), *FILTER_LABELS.values(), "approved", "rejected"]
    for item in settings.describe():
        found += [item["description"], item["allowed"]]
    found += [m.replace("_", " ") for m in MOTIONS]
    actions = (WEB / "actions.py").read_text(encoding="utf-8")
    found += re.findall(r'_done\(request, object_id, "([^"]+)"\)', actions)
    for module in sorted(WEB.glob("*.py")):
        found += re.findall(r'gettext\(request\)\("([^"]+)"\)', module.read_text(encoding="utf-8"))
    # the roles and what they may do (the nav's "name (role)", a refusal, the audit history)
    from imagear.auditlog import REFUSED, STORED
    from imagear.roles import ALLOWED, GUEST, ROLES
    from imagear.web.deps import ROLE_REFUSED, ROLE_WORDS
    from imagear.web.signin import WRONG

    found += [ROLE_REFUSED, WRONG, *ROLE_WORDS.values(), *ROLES, GUEST, *ALLOWED["admin"]]
    found += [REFUSED, STORED]  # the quality gate's verdicts in the history
    return sorted(set(found))


def test_every_text_has_a_french_translation() -> None:
    pytest.importorskip("babel")
    from imagear.web import i18n

    french = i18n.catalog("fr")
    texts = words()
    assert len(texts) > 200
    missing = [t for t in texts if french(t) == t and not SAME.match(t) and t not in SAME_WORDS]
    assert missing == []


@pytest.mark.parametrize(
    ("accept", "cookie", "lang"),
    [
        ("fr-CA,fr;q=0.9,en;q=0.8", None, "fr"),
        ("de-DE,de;q=0.9,en;q=0.5", None, "en"),
        ("de", None, "en"),
        ("en;q=0.4,fr;q=0.8", None, "fr"),
        ("fr", "en", "en"),
        (None, "fr", "fr"),
    ],
)
def test_the_language_of_a_request(accept: str | None, cookie: str | None, lang: str) -> None:
    from imagear.web.i18n import negotiate

    assert negotiate(accept, cookie) == lang


def test_pages_in_french_and_the_switch(app: Any, make_image: Any) -> None:
    pytest.importorskip("fastapi")
    ids = add_records(app, make_image, 2, animated=1)
    c = client(app)
    fr = {"Accept-Language": "fr-FR,fr;q=0.9"}
    grid = c.get("/", headers=fr)
    assert '<html lang="fr">' in grid.text and grid.headers["content-language"] == "fr"
    assert ">2 notices<" in grid.text and "Rechercher" in grid.text and "Records" not in grid.text
    page = c.get(f"/records/{ids[0]}", headers={**fr, **bearer()})
    assert "Image maîtresse" in page.text and "Supprimer le clip" in page.text
    assert "zoom avant" in page.text  # the Ken Burns motions too
    settings = c.get("/admin/image-ar/settings", headers={**fr, **bearer()})
    assert "Modèle par défaut" in settings.text and "Enregistrer les réglages" in settings.text
    done = c.post(
        f"/records/{ids[0]}/approve", headers={**fr, **bearer(), "Accept": "application/json"}
    )
    assert done.json()["message"] == "Clip approuvé."
    switched = c.get("/lang/en?next=/batch", headers=fr, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/batch"
    c.cookies.set("imagear_lang", "en")
    english = c.get("/", headers=fr)  # the switch wins over Accept-Language
    assert '<html lang="en">' in english.text and ">2 records<" in english.text
    assert (
        c.get("/lang/en?next=//elsewhere.invalid/", follow_redirects=False).headers["location"]
        == "/"
    )  # no open redirect


def test_numbers_in_the_page_language() -> None:
    from imagear.web.i18n import number

    assert number(12345.5, "fr", 1).replace("\u202f", " ").replace("\xa0", " ") == "12 345,5"
    assert number(12345.5, "en", 1) == "12,345.5"
