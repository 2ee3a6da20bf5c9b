"""Bounds of the numbers imagear parses (ids, counts), checked where they are parsed.

``information_object.id`` and ``digital_object.id`` are signed 32-bit INT columns in AtoM and
Heratio (MySQL) and INTEGER in imagear's own schema, so a record id above ``MAX_ID`` can name no
record; counts (``-n``, ``--limit``, ``--offset``) have the same bound, far above any archive, and
a larger value would overflow the database's integer parameters (SQLite's are 64-bit at most).
"""

MAX_ID = 2**31 - 1
"""The largest record id (a signed 32-bit INT, as the AtoM/Heratio columns are)."""

MAX_COUNT = 2**31 - 1
"""The largest count or offset a command takes."""

MAX_SEED = 2**32 - 1
"""The largest seed a model takes (an unsigned 32-bit value, as torch's generators take it)."""

__all__ = ["MAX_COUNT", "MAX_ID", "MAX_SEED"]
