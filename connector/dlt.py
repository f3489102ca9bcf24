"""``connector.dlt``: a definition as a dlt source (see :mod:`connector.pulls.dlt_source`).

>>> import dlt  # doctest: +SKIP
>>> from connector import Connector
>>> from connector.dlt import source
>>> with Connector("definitions/claude-api.json") as api:  # doctest: +SKIP
...     dlt.pipeline(destination="duckdb").run(source(api, ["message_batches"]))

Needs the ``dlt`` extra: ``pip install 'connector[dlt]'``.
"""

from __future__ import annotations

from .pulls.dlt_source import list_operations, run_pipeline, source

__all__ = ["list_operations", "run_pipeline", "source"]
