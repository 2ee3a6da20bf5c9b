"""AtoM-style CSV import (``imagear records import``): identifier, title and a master image as
``digitalObjectPath`` (a file) or ``digitalObjectURI`` (a IIIF Image service). A file that is
not UTF-8 is refused before any row; a bad row is reported on its line and the import goes on;
existing identifiers are skipped (re-runnable)."""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from pathlib import Path

from imagear.app import App
from imagear.db import records as records_db
from imagear.domain import ImportFailure, ImportReport, ImportSkip
from imagear.errors import ImagearError, NotFound, UsageError
from imagear.records import add_iiif, add_record, find_identifier, text_problem

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # a URL given as a path
_Done = tuple[ImportReport, dict[str, int], bool]  # a CSV import's report, ids seen, duplicates


def _check_utf8(path: Path) -> None:
    """Refuse a CSV that is not UTF-8 before importing any row (no half-imported files)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk[: exc.start].count(b"\n")
                raise UsageError(
                    f"{path} is not UTF-8 (line {line} has bytes that are not); nothing was imported.",
                    "Save the file as UTF-8 (AtoM's CSV format) and import it again.",
                ) from None
            line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise UsageError(
            f"{path} ends in the middle of a UTF-8 character; nothing was imported."
        ) from None


def _rows(
    reader: csv.DictReader[str], report: ImportReport
) -> Iterator[tuple[int, dict[str, str | None]]]:
    """(line number, row) of each readable row; an unreadable one (a field over the CSV
    module's limit, ...) is reported on its line and the import goes on."""
    rows = iter(reader)
    last = reader.line_num  # the bad row starts on the line after the last good one
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            report.errors.append(ImportFailure(last + 1, f"the row is not readable CSV ({exc})."))
            last = reader.line_num
            continue
        last = reader.line_num
        yield last, row


def import_csv(app: App, csv_path: Path, allow_duplicates: bool = False) -> ImportReport:
    """Import AtoM-style CSV (identifier, title, digitalObjectPath); bad rows are reported, not fatal.

    Relative ``digitalObjectPath`` values are relative to the CSV file's folder. A row whose
    identifier (default: the file stem) already exists, in the database or earlier in the file, is
    skipped and reported, so re-running a fixed file imports only what was missing. Refused
    (ReadOnlyRecords) on an AtoM/Heratio database before any row is read.
    """
    records_db.refuse_adding(app.engine)
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise NotFound(f"{csv_path} does not exist.", "Check the path of the CSV file.")
    _check_utf8(csv_path)
    report = ImportReport()
    seen: dict[str, int] = {}
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        try:
            fields = reader.fieldnames or []
        except csv.Error as exc:
            raise UsageError(f"{csv_path}: the header line is not readable CSV ({exc}).") from exc
        if "digitalObjectPath" not in fields and "digitalObjectURI" not in fields:
            advice = (
                "Use AtoM's CSV columns: identifier, title, digitalObjectPath (comma-separated)."
            )
            if len(fields) == 1 and ";" in fields[0]:
                advice = "The header looks semicolon-separated; AtoM CSV uses commas."
            raise UsageError(
                f"{csv_path} has no digitalObjectPath column (found: {', '.join(fields) or 'none'}).",
                advice,
            )
        for line, row in _rows(reader, report):
            raw = (row.get("digitalObjectPath") or "").strip()
            uri = (row.get("digitalObjectURI") or "").strip()
            if not raw and uri:
                _import_iiif(app, line, row, uri, (report, seen, allow_duplicates))
                continue
            if not raw:
                report.errors.append(
                    ImportFailure(line, "digitalObjectPath and digitalObjectURI are empty.")
                )
                continue
            if _URL.match(raw):
                report.errors.append(
                    ImportFailure(
                        line,
                        f"{raw} is a URL; imagear imports local files: download it and give its path.",
                    )
                )
                continue
            path = Path(raw).expanduser()
            if not path.is_absolute():
                path = csv_path.parent / path
            identifier = (row.get("identifier") or "").strip() or path.stem
            problem = text_problem(identifier, row.get("title"), raw)
            if problem is not None:  # the same refusal on every database, before any query
                report.errors.append(ImportFailure(line, f"{problem}; the row was skipped."))
                continue
            if not allow_duplicates:
                existing = seen.get(identifier) or find_identifier(app, identifier)
                if existing:
                    report.skipped.append(
                        ImportSkip(
                            line, f"identifier {identifier!r} already exists (record {existing})."
                        )
                    )
                    continue
            try:
                rec = add_record(app, path, identifier, (row.get("title") or "").strip() or None)
            except ImagearError as err:
                report.errors.append(ImportFailure(line, err.message))
            else:
                report.added.append(rec)
                seen[identifier] = rec.id
    return report


def _import_iiif(app: App, line: int, row: dict[str, str | None], uri: str, done: _Done) -> None:
    """A CSV row whose master is a IIIF Image service (``digitalObjectURI``)."""
    report, seen, allow_duplicates = done
    identifier = (row.get("identifier") or "").strip() or None
    existing = None
    if identifier and not allow_duplicates and not text_problem(identifier, None):
        existing = seen.get(identifier) or find_identifier(app, identifier)
    try:
        if existing:
            report.skipped.append(
                ImportSkip(line, f"identifier {identifier!r} already exists (record {existing}).")
            )
            return
        rec = add_iiif(app, uri, identifier, (row.get("title") or "").strip() or None)
    except ImagearError as err:
        report.errors.append(ImportFailure(line, err.message))
    else:
        report.added.append(rec)
        seen[rec.identifier or ""] = rec.id


__all__ = ["import_csv"]
