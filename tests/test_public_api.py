"""The public surface: one door, `connector`, with a sorted `__all__`."""

from __future__ import annotations

import connector


def test_all_is_sorted() -> None:
    assert connector.__all__ == sorted(connector.__all__)


def test_all_equals_the_public_names() -> None:
    """Every public name in the package namespace is listed, and every listed name exists
    (submodules, bound as attributes on import, and `from __future__` features are not part of
    the surface)."""
    import __future__

    import types

    for name in connector.__all__:  # the client and the model are imported on first use
        getattr(connector, name)
    public = {
        name
        for name, value in vars(connector).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType | __future__._Feature)
    }
    assert set(connector.__all__) - {"__version__"} == public
    for name in connector.__all__:
        assert hasattr(connector, name)


def test_all_has_no_duplicates() -> None:
    assert len(connector.__all__) == len(set(connector.__all__))


def test_every_error_is_a_connector_error() -> None:
    for name in connector.__all__:
        value = getattr(connector, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, connector.ConnectorError), name
