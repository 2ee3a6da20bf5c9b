"""The web console's record grid: one page of records (in SQL, never all of them), searched by
identifier or title (accents and case ignored: :mod:`imagear.db.fold`) and filtered by what
happened to them.

Paging is by key: the records after the last id of the page before (``after``) or before the
first id of the page after (``before``), so a deep page reads 24 rows of the primary key
wherever it is; ``offset`` (LIMIT/OFFSET) stays for the first pages of a ``?page=N`` link. The
total is counted up to :data:`COUNT_CAP` matches (a count of every match is a scan of every
record on each page: 0.2-5 s at a million); the page says "more than" beyond it.

Filters (:data:`FILTERS`): ``animated`` (has a clip), ``missing`` (no clip yet), ``failed``
(its last batch attempt failed, not by the quality gate), ``refused`` (the quality gate refused
its last clip: a batch job's last error, or a ``refused`` entry of ``imagear_audit``, written
by any front end, with no ``stored`` one after it), ``rejected`` (a curator rejected its clip).
Each row carries its clip row (or None), its review state and its batch job's status and error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    FromClause,
    Select,
    Subquery,
    and_,
    func,
    or_,
    select,
    union,
)
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour, split
from imagear.db.auditlog import gate_refused_ids
from imagear.db.fold import contains
from imagear.db.publication import published_sql
from imagear.db.records import RecordId, has_clip, has_master
from imagear.db.review import REVIEW, bound, rejected_sql
from imagear.db.rows import clip_of
from imagear.db.schema import JOB
from imagear.db.split import Part
from imagear.domain import Clip, GridRow

FILTERS = ("all", "animated", "missing", "failed", "refused", "rejected")
_FAILED = ("failed", "given_up")
QUALITY = "quality"
COUNT_CAP = 10_000
"""Matches counted at most (the total shown is then "more than" this)."""
MAX_SEARCH = 200
"""Characters of a search that are used (no identifier or title search needs more; SQLite
refuses LIKE patterns over 50,000 bytes)."""
T = TypeVar("T")


def _filter(oid: RecordId, name: str) -> ColumnElement[bool] | None:
    """SQL: the record ``oid`` passes filter ``name`` (None: no condition of this kind)."""
    if name == "animated":
        return has_clip(oid)
    if name == "missing":
        return ~has_clip(oid)
    if name == "refused":  # and not since rejected by a curator
        return ~rejected_sql(oid)
    if name == "rejected":
        return rejected_sql(oid)
    return None


def _matches(name: str) -> Subquery | None:
    """The ids of the records the ``failed`` and ``refused`` filters match, read from imagear's
    own tables by index (image_ar_job's error kind, imagear_audit's action) and joined to the
    records: few records match, and a test record by record walked every record to find them
    (2 s at a million on MariaDB). A failure: ``failed`` or ``given_up``, or ``pending`` with
    an error (its runner died or a stopped run gave it back); its ``last_error_kind`` is set
    with its error. ``refused``: the quality gate refused its last clip, by the batch (its
    job's error kind) or by any front end (the audit trail)."""
    if name not in ("failed", "refused"):
        return None
    failure = and_(
        JOB.c.last_error_kind.is_not(None),
        or_(
            JOB.c.status.in_(_FAILED),
            and_(JOB.c.status == "pending", JOB.c.last_error.is_not(None)),
        ),
    )
    if name == "failed":
        return select(JOB.c.object_id).where(failure, JOB.c.last_error_kind != QUALITY).subquery()
    by_job = select(JOB.c.object_id).where(failure, JOB.c.last_error_kind == QUALITY)
    return union(by_job, gate_refused_ids()).subquery()


def page(
    engine: Engine,
    query: str = "",
    show: str = "all",
    limit: int = 24,
    offset: int = 0,
    after: int | None = None,
    before: int | None = None,
    guest_public: bool | None = None,
) -> tuple[list[GridRow], int]:
    """(rows, total matching) for one page of the grid, in id order: from ``offset``, or the
    ``limit`` records after id ``after``, or the ``limit`` records before id ``before``. A page
    by ``offset`` first reads its first id alone (skipping ids only), then its rows by key:
    OFFSET over the rows themselves worked out each skipped record's title and master (at a
    million records, ``?page=37500``: 1.4-2.1 s on PostgreSQL, 0.4-0.6 s on MariaDB; now
    about 0.1 s on both). The total is at most ``COUNT_CAP + 1`` (more than :data:`COUNT_CAP`
    matches). A first page holds the first matches: with room to spare, every one (nothing is
    counted); full, where a search scans every title (no index answers it), only the matches
    after its last are counted (a count of every match read each title twice where the matches
    are few: the page's, then the count's). Where a search is a scan of every title
    (:func:`imagear.db.split.wanted`), it is read as ranges of ids at once, each on its own
    connection (:mod:`imagear.db.split`).
    ``guest_public`` not None: only the records a guest may see
    (:func:`imagear.db.publication.published_sql`)."""
    if show not in FILTERS:
        raise ValueError(f"unknown filter {show!r}")
    fl = flavour.of(engine)
    r = fl.records
    title = fl.title()
    where = [fl.listed()]
    if guest_public is not None:
        where.append(published_sql(fl, r.c.id, guest_public))
    # no NUL (PostgreSQL refuses one in a string), at most MAX_SEARCH characters
    text = query.replace("\0", "").strip()[:MAX_SEARCH].strip()
    name = engine.dialect.name
    if text:
        hits = [
            contains(name, r.c.identifier, text, indexed=fl.search_indexed, codes=True),
            contains(name, title, text, indexed=fl.search_indexed),
        ]
        where.append(or_(*hits))
    chosen = _filter(r.c.id, show)
    if chosen is not None:
        where.append(chosen)
    matched = _matches(show)
    source: FromClause = r if matched is None else r.join(matched, matched.c[0] == r.c.id)
    columns = [
        r.c.id,
        r.c.identifier,
        title.label("title"),
        has_master(r.c.id).label("has_master"),
    ]
    listing = select(*columns).select_from(source).where(*where)
    if after is not None:
        listing = listing.where(r.c.id > after).order_by(r.c.id)
    elif before is not None:  # the page before: read backwards, shown in id order
        listing = listing.where(r.c.id < before).order_by(r.c.id.desc())
    else:
        listing = listing.order_by(r.c.id)
    first_page = after is None and before is None and offset == 0
    # a page by number (an old ?page=N link): its first id (read on its own, so that the page
    # is then a range of the key on every database), then its rows by key
    by_number = after is None and before is None and offset > 0
    start = select(r.c.id).select_from(source).where(*where).order_by(r.c.id)
    matching = select(r.c.id).select_from(source).where(*where)
    # a search that scans every title (no trigram index answers it); on MariaDB and
    # PostgreSQL without pg_trgm, read as a few ranges of ids at once (db/split.py)
    scans = bool(text) and not fl.search_indexed
    scan = scans and matched is None and not by_number and split.wanted(name, fl.search_indexed)
    try:
        with engine.connect() as conn:
            span = split.ends(conn, r.c.id) if scan else None
            pages = _Pages(engine, conn, r.c.id, span, limit)
            first = conn.execute(start.offset(offset).limit(1)).scalar() if by_number else None
            if first is not None:
                listing = listing.where(r.c.id >= first)
            read = first is not None or not by_number  # (no first id: past the last page)
            if span is not None and first_page:
                rows, total = pages.first(listing.limit(limit), matching)
            else:
                rows = pages.rows(listing.limit(limit), after, before) if read else []
                if not first_page:
                    total = pages.count(matching)
                elif len(rows) < limit:  # it holds every match: nothing to count
                    total = len(rows)
                elif scans:  # only the matches after the page's (a second scan, shorter)
                    total = pages.total_after(rows, matching)
                else:  # (an index answers the count: PostgreSQL's trigrams, a filter's)
                    total = pages.count(matching)
            rows.sort(key=lambda row: row.id)
            ids = [row.id for row in rows]
            clips = fl.clips
            clip_rows: dict[int, Clip] = {}
            reviews: dict[int, str] = {}
            job_rows: dict[int, tuple[str | None, str | None, str | None]] = {}
            if ids:
                for found in conn.execute(
                    select(clips).where(clips.c.object_id.in_(ids))
                ).mappings():
                    clip_rows[int(found["object_id"])] = clip_of(found, fl)
                for found in conn.execute(
                    select(REVIEW).where(REVIEW.c.object_id.in_(ids))
                ).mappings():
                    oid = int(found["object_id"])
                    clip = clip_rows.get(oid)
                    current = clip.mp4_path if clip is not None and clip.has_video else None
                    if bound(found["state"], found["clip_path"], current):  # the clip judged
                        reviews[oid] = found["state"]
                job = select(JOB.c.object_id, JOB.c.status, JOB.c.last_error, JOB.c.last_error_kind)
                for j in conn.execute(job.where(JOB.c.object_id.in_(ids))):
                    job_rows[int(j.object_id)] = (j.status, j.last_error, j.last_error_kind)
    except SQLAlchemyError as exc:
        raise flavour.failed(
            engine,
            "Reading the records failed",
            exc,
            "Check database_url (`imagear config show`) and that its tables are imagear's or "
            "Heratio's.",
        ) from exc
    for row in rows:
        row.animation = clip_rows.get(row.id)
        row.review = reviews.get(row.id)
        row.job_status, row.job_error, row.job_error_kind = job_rows.get(row.id, (None,) * 3)
    return rows, int(total)


class _Pages:
    """The page's statements read on ``conn``, or, where ``span`` is given (a search that scans:
    :mod:`imagear.db.split`), as ranges of ``key`` at once."""

    def __init__(
        self,
        engine: Engine,
        conn: Connection,
        key: ColumnElement[int],
        span: Part | None,
        limit: int,
    ) -> None:
        self.engine, self.conn, self.key, self.span, self.limit = engine, conn, key, span, limit

    def _parts(
        self,
        ranges: list[Part],
        work: Callable[[Part], Callable[[Connection], T]],
        enough: Callable[[list[T]], bool],
    ) -> list[T]:
        return split.read(self.engine, self.conn, ranges, work, enough)

    def rows(
        self, listing: Select[Any], after: int | None = None, before: int | None = None
    ) -> list[GridRow]:
        """The rows of ``listing`` (ordered, limited): the ranges in its order until full."""
        if self.span is None:
            return _rows_of(listing)(self.conn)
        ranges = split.plan(self.span, after, before, descending=before is not None)
        found = self._parts(
            ranges,
            lambda part: _rows_of(split.restrict(listing, self.key, part)),
            lambda found: sum(map(len, found)) >= self.limit,
        )
        return [row for some in found for row in some][: self.limit]

    def count(self, matching: Select[Any], cap: int | None = None, after: int | None = None) -> int:
        """The rows of ``matching``, at most ``cap`` (default ``COUNT_CAP + 1``; split: its
        ids after ``after``)."""
        cap = COUNT_CAP + 1 if cap is None else cap
        if self.span is None:
            return _count_of(matching, cap)(self.conn)
        counts = self._parts(
            split.plan(self.span, after),
            lambda part: _count_of(split.restrict(matching, self.key, part), cap),
            lambda found: sum(found) >= cap,
        )
        return min(sum(counts), cap)

    def total_after(self, rows: list[GridRow], matching: Select[Any]) -> int:
        """A full first page's total: its rows, the first matches, and those after its last
        (counted up to the cap). A count of every match read each title a second time where
        the matches are few: the page's scan, then the count's."""
        if self.limit > COUNT_CAP:
            return COUNT_CAP + 1
        last = max(row.id for row in rows)
        rest = matching.where(self.key > last)
        return self.limit + self.count(rest, COUNT_CAP + 1 - self.limit, after=last)

    def first(self, listing: Select[Any], matching: Select[Any]) -> tuple[list[GridRow], int]:
        """A split search's first page and its total, each title read once. Each range gives
        the ids of its first matches (as many as a page holds) and, when it has that many, the
        count of its matches after them (up to the cap: no id of a common word carried);
        ranges are read until the cap is reached, then the page's rows read by key."""
        limit, key = self.limit, self.key

        def piece(part: Part) -> Callable[[Connection], tuple[list[int], int]]:
            first_ids = _ids_of(split.restrict(matching, key, part), key, limit)

            def read(conn: Connection) -> tuple[list[int], int]:
                ids = first_ids(conn)
                left = COUNT_CAP + 1 - len(ids)
                if len(ids) < limit or left <= 0:  # every match of the range, or the cap
                    return ids, len(ids)
                rest = split.restrict(matching, key, (ids[-1] + 1, part[1]))
                return ids, len(ids) + _count_of(rest, left)(conn)

            return read

        found = self._parts(
            split.plan(self.span), piece, lambda found: sum(n for _, n in found) > COUNT_CAP
        )
        shown = [oid for ids, _ in found for oid in ids][:limit]
        rows = _rows_of(listing.where(key.in_(shown)))(self.conn) if shown else []
        return rows, min(sum(n for _, n in found), COUNT_CAP + 1)


def _ids_of(
    matching: Select[Any], key: ColumnElement[int], limit: int
) -> Callable[[Connection], list[int]]:
    """Reading the first ``limit`` ids ``matching`` gives, in order."""
    ordered = matching.order_by(key).limit(limit)
    return lambda conn: [int(oid) for oid in conn.execute(ordered).scalars()]


def _rows_of(listing: Select[Any]) -> Callable[[Connection], list[GridRow]]:
    """Reading ``listing`` (the page's columns) as grid rows."""

    def read(conn: Connection) -> list[GridRow]:
        return [
            GridRow(int(row.id), row.identifier, row.title, bool(row.has_master))
            for row in conn.execute(listing)
        ]

    return read


def _count_of(matching: Select[Any], cap: int) -> Callable[[Connection], int]:
    """Counting the rows of ``matching``, at most ``cap`` of them."""
    capped = matching.limit(cap).subquery()
    return lambda conn: int(conn.execute(select(func.count()).select_from(capped)).scalar_one())


__all__ = ["COUNT_CAP", "FILTERS", "MAX_SEARCH", "page", "rejected_sql"]
