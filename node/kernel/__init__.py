"""The kernel every tier shares (DESIGN §10, layer 2): pure modules, no I/O.

Values and the rules over them: records and their one verifier (``records``, ``chain``,
``wire``), what records say (``payloads``), who may say it (``authority``), the catalog and
pre-review (``catalog``, ``prereview``, ``resident_id``, ``case_id``), a case's life and the one
projector of records onto cases (``workflow``, ``projector``), deadlines (``deadlines``),
identity and keys (``identity``), the clock seam (``clock``) and the errors (``errors``).

Nothing here imports grpc, a database, sockets or the environment, or reads the time except
through an injected ``Clock`` (``tests/structure`` checks it).
"""
