"""The store seam (DESIGN §9, §10; STYLE §3, §20): the only writer of records, log heads,
cases and the trail.

``with store.transaction() as tx:`` is one unit of work: ``tx.seal_append(...)`` signs and
appends a record of this tier's own log, ``tx.append(...)`` stores records received from
another, ``tx.cases.apply(changes)`` writes what the projector (``node.kernel.projector``)
made of them, and everything commits together or not at all. ``store.reading()`` is a
read-only snapshot with the same queries. ``seam`` names the protocols; ``sql`` implements
them on SQLAlchemy Core (SQLite at every node, PostgreSQL at a real hub); ``memory``
implements them in dictionaries for unit tests.
"""
