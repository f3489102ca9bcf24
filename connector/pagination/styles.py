"""The ``pagination`` block of a list operation, one model per style (see the package
docstring of :mod:`connector.pagination` for what each style does)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Discriminator
from pydantic import Field as PydanticField

__all__ = [
    "SELECTOR_KEYS",
    "STYLES",
    "CursorPagination",
    "HeaderCursorPagination",
    "LinkPagination",
    "OffsetPagination",
    "PageNumberPagination",
    "PageTokenPagination",
    "Pagination",
]

SelectorSpec = list[str | int] | list[str] | str


class _Spec(BaseModel):
    # The same strictness as every definition model (definitions._Strict).
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, validate_default=False, strict=True
    )

    page_size_param: str | None = PydanticField(
        default=None,
        alias="pageSizeParam",
        validation_alias=AliasChoices("pageSizeParam", "limitParam", "page_size_param"),
    )
    """The query parameter that sets the page size (``limitParam`` is its older spelling)."""
    max_page_size: Annotated[int, PydanticField(ge=1)] | None = PydanticField(
        default=None, alias="maxPageSize"
    )
    """The largest page the API serves; a larger request is clamped to it."""

    @property
    def limit_param(self) -> str | None:
        """The older name of :attr:`page_size_param`."""
        return self.page_size_param


class CursorPagination(_Spec):
    """Body cursor: send ``param=<cursor>`` while ``hasMore`` is true (batches, models, Stripe)."""

    type: Literal["cursor"]
    param: str = "after_id"
    cursor: SelectorSpec = ["last_id"]
    item_cursor: SelectorSpec | None = PydanticField(default=None, alias="itemCursor")
    """Read the cursor from the last item of the page instead (Stripe's ``starting_after``)."""
    has_more: SelectorSpec = PydanticField(default=["has_more"], alias="hasMore")
    initial: str | None = None


class PageTokenPagination(_Spec):
    """Opaque page tokens: send ``param=<token>`` until the token is null or empty."""

    type: Literal["pageToken"]
    param: str = "page"
    token: SelectorSpec = ["next_page"]
    initial: str | None = None


class LinkPagination(_Spec):
    """RFC 8288 ``Link`` header: follow ``rel`` (``next``) while it is on the base URL's origin."""

    type: Literal["link"]
    rel: str = "next"


class OffsetPagination(_Spec):
    """Offset and limit: ``param`` counts the items already seen."""

    type: Literal["offset"]
    param: str = "offset"
    initial: Annotated[int, PydanticField(ge=0)] = 0
    total: SelectorSpec | None = None
    """Where the body gives the total number of items (the walk stops there)."""


class PageNumberPagination(_Spec):
    """Page number and page size: ``param`` = initial, initial + 1, ..."""

    type: Literal["pageNumber"]
    param: str = "page"
    initial: Annotated[int, PydanticField(ge=0)] = 1
    total: SelectorSpec | None = None
    total_pages: SelectorSpec | None = PydanticField(default=None, alias="totalPages")


class HeaderCursorPagination(_Spec):
    """A cursor in a response header, sent back as ``param`` until the header is absent."""

    type: Literal["headerCursor"]
    header: str
    param: str = "cursor"
    initial: str | None = None


Pagination = Annotated[
    CursorPagination
    | PageTokenPagination
    | LinkPagination
    | OffsetPagination
    | PageNumberPagination
    | HeaderCursorPagination,
    Discriminator("type"),
]

STYLES = ("cursor", "pageToken", "link", "offset", "pageNumber", "headerCursor")
SELECTOR_KEYS = ("cursor", "itemCursor", "hasMore", "token", "total", "totalPages")
