"""Config-driven data pulls: incremental cursors, parent → child fan-out, outputs and dlt.

The definition declares what a pull may do (``incremental`` on a list operation, ``children``
on a resource: :mod:`connector.pulls.spec`); :class:`~connector.pulls.pull.Pull` runs one;
:mod:`connector.pulls.outputs` writes JSONL, CSV or Parquet; :mod:`connector.dlt` lands the
records in any dlt destination. This package's ``__init__`` stays empty on purpose: the
definition models import :mod:`connector.pulls.spec`, so nothing here may import the client.
"""
