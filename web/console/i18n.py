"""pt-BR by default, English on request, through Flask-Babel; money and dates through ``ops.i18n``.

The catalog's source (``translations/pt_BR/LC_MESSAGES/messages.po``) is compiled to ``.mo`` at
start-up with Babel's own compiler, into ``var/translations``: a clean checkout needs no build
step and no binary is committed. English is the source language (the msgids).
"""

from __future__ import annotations

import os
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, session
from flask_babel import Babel, get_locale
from flask_babel import gettext as gettext
from flask_babel import lazy_gettext as lazy_gettext

from config import Settings
from ops import i18n

SOURCE = Path(__file__).resolve().parent / "translations"


def compile_catalogs(target: Path) -> Path:
    """Compile every ``.po`` under ``translations/`` into ``target`` (same layout); returns ``target``."""
    for po in SOURCE.glob("*/LC_MESSAGES/*.po"):
        mo = target / po.relative_to(SOURCE).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as source:
            catalog = read_po(source)
        # Every gunicorn worker compiles at start-up, at the same moment on a fresh dyno: each writes
        # a file of its own and renames it into place (atomic), so none reads half a file and none
        # finds its temporary file taken by another (a shared name made a worker fail to boot).
        with tempfile.NamedTemporaryFile("wb", dir=mo.parent, prefix=f".{mo.name}.", delete=False) as out:
            write_mo(out, catalog)
        os.chmod(out.name, 0o644)  # as a plain open() would have made it (a temporary file is 0600)
        os.replace(out.name, mo)
    return target


def locale() -> str:
    chosen = session.get("lang")
    return chosen if chosen in i18n.LOCALES else i18n.DEFAULT_LOCALE


def init_app(app: Flask, settings: Settings) -> None:
    compiled = compile_catalogs(Path(settings.var_dir) / "translations")
    Babel(app, locale_selector=locale, default_locale=i18n.DEFAULT_LOCALE,
          default_translation_directories=str(compiled), default_timezone=str(i18n.TIMEZONE))  # fmt: skip
    app.jinja_env.filters.update(money=money, day=day, moment=moment, dec=dec)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.context_processor(lambda: {"lang": _current()})


def _current() -> str:
    return str(get_locale() or i18n.DEFAULT_LOCALE)


def dec(value: object) -> Decimal | None:
    """A stored amount string (``"349.90"``) as Decimal; None when absent."""
    return Decimal(str(value)) if value not in (None, "") else None


def money(amount: Decimal | None) -> str:
    return i18n.money(amount, _current())


def day(value: date | datetime | None) -> str:
    return i18n.day(value, _current()) if value is not None else ""


def moment(value: datetime | None) -> str:
    return i18n.moment(value, _current()) if value is not None else ""


__all__ = ["gettext", "lazy_gettext", "money", "day", "moment", "locale"]
