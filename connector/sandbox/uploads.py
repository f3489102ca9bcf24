"""The handlers of Files and Skills: multipart uploads, both pagination styles."""

from __future__ import annotations

import mimetypes
import posixpath
import re
from collections.abc import Callable
from typing import TypeVar

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive

from .api import read_limit, sandbox_of, settings_of, version_of
from .ledger import Ledger
from .state import FileRecord, SandboxState, SkillRecord
from .validation import OLD_VERSION
from .wire import JSON, api_error, json_response

R = TypeVar("R")

__all__ = ["upload_routes"]

FILES_BETA = "files-api-2025-04-14"
SKILLS_BETA = "skills-2025-10-02"
_PAGE_PREFIX = "page_"
_FILES_PART = re.compile(r"^files(\[\d*\])?$")
_FRONTMATTER = re.compile(r"^---\s*\n(.*?)\n---", re.DOTALL)


def _require_beta(request: Request, token: str) -> None:
    """With ``strict_beta``, a 2023-06-01 client must name the beta (0.x SDKs always do)."""
    if not settings_of(request).strict_beta or version_of(request) != OLD_VERSION:
        return
    sent = {
        part.strip()
        for value in request.headers.getlist("anthropic-beta")
        for part in value.split(",")
    }
    if token not in sent:
        raise api_error(
            400,
            f"this API is in beta with anthropic-version {OLD_VERSION}: add the header "
            f"anthropic-beta: {token}",
        )


def _check_upload(request: Request) -> tuple[Request, int]:
    """Refuse an upload that is too large or not multipart; return the request to read (its
    body counted while it streams, so a chunked or lying upload stops at the limit too) and
    the size limit."""
    limit = settings_of(request).max_file_bytes
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise api_error(413, f"upload is over the {limit}-byte limit")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise api_error(400, "content-type: expected multipart/form-data")
    return Request(request.scope, _limited(request.receive, limit)), limit


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises 413 once the body passes ``limit`` bytes, whatever the framing."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise api_error(413, f"upload is over the {limit}-byte limit")
        return message

    return counted


def _page(
    request: Request,
    state: SandboxState,
    ledger: Ledger[R],
    render: Callable[[R], JSON],
    keep: Callable[[R], bool] | None = None,
) -> dict[str, JSON]:
    """Either pagination style: ``after_id``/``before_id`` or an opaque ``page`` token; the
    answer carries both key sets (each SDK era ignores the other's keys). Only the page's own
    records are rendered (O(page), whatever the history)."""
    token = request.query_params.get("page")
    after_id = request.query_params.get("after_id")
    if token:
        if not token.startswith(_PAGE_PREFIX):
            raise api_error(400, f"page: not a page token (found {token!r})")
        after_id = token[len(_PAGE_PREFIX) :]
    limit = read_limit(request)
    with state.lock:
        chunk, has_more = ledger.page(
            limit=limit,
            after_id=after_id,
            before_id=request.query_params.get("before_id"),
            keep=keep,
        )
        data = [render(item) for _, item in chunk]
    last = chunk[-1][0] if chunk else None
    return {
        "data": data,
        "has_more": has_more,
        "first_id": chunk[0][0] if chunk else None,
        "last_id": last,
        "next_page": f"{_PAGE_PREFIX}{last}" if has_more and last else None,
    }


async def upload_file(request: Request) -> Response:
    """``POST /v1/files``: multipart, part ``file``."""
    _require_beta(request, FILES_BETA)
    state = sandbox_of(request)
    request, limit = _check_upload(request)
    async with request.form(max_files=10_000, max_part_size=limit) as form:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise api_error(400, "file: Field required (a multipart file part named 'file')")
        data = await part.read()
        filename = posixpath.basename((part.filename or "upload").replace("\\", "/")) or "upload"
        mime = part.content_type or ""
    if not mime or mime == "application/octet-stream":
        mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    record = FileRecord(state.ids.make("file"), filename, mime, data, state.now())
    with state.lock:
        state.files.add(record.id, record)
    return json_response(record.to_json())


def _held(state: SandboxState, ledger: Ledger[R], kind: str, key: str) -> R:
    """The record ``key`` of ``ledger``, or the API's 404 naming it."""
    with state.lock:
        record = ledger.get(key)
    if record is None:
        raise api_error(404, f"{kind} {key!r} not found")
    return record


def _file(state: SandboxState, file_id: str) -> FileRecord:
    return _held(state, state.files, "file", file_id)


async def list_files(request: Request) -> Response:
    """``GET /v1/files``: id cursors (0.x) or page tokens (2.x); ``ids[]`` picks files."""
    _require_beta(request, FILES_BETA)
    state = sandbox_of(request)
    wanted = request.query_params.getlist("ids[]") or request.query_params.getlist("ids")
    if wanted:
        if len(wanted) > 100:
            raise api_error(400, "ids: at most 100 ids")
        with state.lock:
            chosen: list[JSON] = [
                record.to_json() for key, record in state.files.newest_first() if key in set(wanted)
            ]
        return json_response(
            {
                "data": chosen,
                "has_more": False,
                "first_id": None,
                "last_id": None,
                "next_page": None,
            }
        )
    return json_response(_page(request, state, state.files, FileRecord.to_json))


async def retrieve_file(request: Request) -> Response:
    """``GET /v1/files/{id}``: the metadata."""
    _require_beta(request, FILES_BETA)
    return json_response(_file(sandbox_of(request), request.path_params["file_id"]).to_json())


async def download_file(request: Request) -> Response:
    """``GET /v1/files/{id}/content``: the raw bytes with the stored MIME type."""
    _require_beta(request, FILES_BETA)
    record = _file(sandbox_of(request), request.path_params["file_id"])
    if not record.downloadable:
        raise api_error(400, f"file {record.id} is not downloadable")
    # Set verbatim: starlette would add "; charset=utf-8" to a text/* media_type.
    return Response(record.data, headers={"content-type": record.mime_type})


async def delete_file(request: Request) -> Response:
    """``DELETE /v1/files/{id}``."""
    _require_beta(request, FILES_BETA)
    state = sandbox_of(request)
    record = _file(state, request.path_params["file_id"])
    with state.lock:
        state.files.remove(record.id)
    return json_response({"id": record.id, "type": "file_deleted"})


def _frontmatter(text: str) -> dict[str, str]:
    match = _FRONTMATTER.match(text)
    fields: dict[str, str] = {}
    for line in match.group(1).splitlines() if match else []:
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip().strip("\"'")
    return fields


async def create_skill(request: Request) -> Response:
    """``POST /v1/skills``: ``files`` parts under one directory with ``SKILL.md`` at its root."""
    _require_beta(request, SKILLS_BETA)
    state = sandbox_of(request)
    request, limit = _check_upload(request)
    async with request.form(max_files=10_000, max_part_size=limit) as form:
        # The 2.x SDK names the parts "files[]"; curl users write "files".
        parts = [
            value
            for key, value in form.multi_items()
            if _FILES_PART.match(key) and isinstance(value, UploadFile)
        ]
        files = {(p.filename or "").replace("\\", "/").lstrip("/"): await p.read() for p in parts}
        title = form.get("display_name") or form.get("display_title")
    if not files:
        raise api_error(400, "files: Field required (the skill's files, SKILL.md included)")
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) != 1 or any("/" not in path for path in files):
        raise api_error(400, "files: every file must sit under one top-level directory")
    top = tops.pop()
    manifest = files.get(f"{top}/SKILL.md")
    if manifest is None:
        raise api_error(400, f"files: {top}/SKILL.md is missing (SKILL.md must be at the root)")
    meta = _frontmatter(manifest.decode("utf-8", "replace"))
    if title is not None and not isinstance(title, str):
        raise api_error(400, "display_name: must be a text field")
    if title and len(title) > 255:
        raise api_error(400, "display_name: at most 255 characters")
    now = state.now()
    record = SkillRecord(
        id=state.ids.make("skill"),
        display_title=title or meta.get("name") or top,
        created_at=now,
        version=str(int(now.timestamp() * 1_000_000)),
        version_id=state.ids.make("skillver"),
        files=files,
    )
    with state.lock:
        state.skills.add(record.id, record)
    return json_response(record.to_json(version_of(request)))


def _skill(state: SandboxState, skill_id: str) -> SkillRecord:
    return _held(state, state.skills, "skill", skill_id)


async def list_skills(request: Request) -> Response:
    """``GET /v1/skills``: newest first; ``source`` filters."""
    _require_beta(request, SKILLS_BETA)
    state = sandbox_of(request)
    version = version_of(request)
    source = request.query_params.get("source")
    return json_response(
        _page(
            request,
            state,
            state.skills,
            lambda record: record.to_json(version),
            keep=None if source in (None, "") else (lambda record: record.source == source),
        )
    )


async def retrieve_skill(request: Request) -> Response:
    """``GET /v1/skills/{id}``."""
    _require_beta(request, SKILLS_BETA)
    record = _skill(sandbox_of(request), request.path_params["skill_id"])
    return json_response(record.to_json(version_of(request)))


async def delete_skill(request: Request) -> Response:
    """``DELETE /v1/skills/{id}``."""
    _require_beta(request, SKILLS_BETA)
    state = sandbox_of(request)
    record = _skill(state, request.path_params["skill_id"])
    with state.lock:
        state.skills.remove(record.id)
    return json_response({"id": record.id, "type": "skill_deleted"})


def upload_routes() -> list[BaseRoute]:
    """The routes of this module, relative to the API root."""
    return [
        Route("/files", upload_file, methods=["POST"]),
        Route("/files", list_files, methods=["GET"]),
        Route("/files/{file_id}", retrieve_file, methods=["GET"]),
        Route("/files/{file_id}", delete_file, methods=["DELETE"]),
        Route("/files/{file_id}/content", download_file, methods=["GET"]),
        Route("/skills", create_skill, methods=["POST"]),
        Route("/skills", list_skills, methods=["GET"]),
        Route("/skills/{skill_id}", retrieve_skill, methods=["GET"]),
        Route("/skills/{skill_id}", delete_skill, methods=["DELETE"]),
    ]
