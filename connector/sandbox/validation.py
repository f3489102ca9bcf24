"""The Messages API's request validation, as the API answers a malformed body (400
``invalid_request_error``) or an unknown model (404), and the ``anthropic-version`` values the
sandbox knows (the newest refuses the sampling parameters)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from connector.errors import UpstreamError

from .catalog import ModelRecord
from .wire import JSON, api_error

__all__ = ["MODERN_VERSION", "OLD_VERSION", "ModelLookup", "validate_message_params"]

OLD_VERSION: Final = "2023-06-01"
MODERN_VERSION: Final = "2026-10-21"

ModelLookup = Callable[[str], ModelRecord | None]

_CREATE_KEYS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "stop_sequences",
        "metadata",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
        "cache_control",
        "container",
        "context_management",
        "diagnostics",
        "inference_geo",
        "mcp_servers",
        "output_config",
        "output_format",
        "speed",
    }
)
_COUNT_KEYS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "cache_control",
        "context_management",
        "mcp_servers",
        "output_config",
        "output_format",
        "speed",
    }
)
_SAMPLING = ("temperature", "top_p", "top_k")


def _bad(message: str) -> UpstreamError:
    return api_error(400, message)


def validate_message_params(
    params: JSON, *, version: str, find_model: ModelLookup, counting: bool = False
) -> ModelRecord:
    """Check a Messages request as the API would; return the model it names.

    Raises the 400 ``invalid_request_error`` the API gives for a malformed body, and 404
    ``not_found_error`` for a model it does not know (or one that is retired).
    """
    if not isinstance(params, dict):
        raise _bad("request body must be a JSON object")
    allowed = _COUNT_KEYS if counting else _CREATE_KEYS
    for key in params:
        if key not in allowed:
            raise _bad(f"{key}: Extra inputs are not permitted")
    model_name = params.get("model")
    if not isinstance(model_name, str) or not model_name:
        raise _bad("model: Field required (a model id such as claude-sonnet-4-5)")
    _check_messages(params.get("messages"))
    _check_system(params.get("system"))
    if not counting:
        max_tokens = params.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise _bad("max_tokens: Field required (an integer number of output tokens)")
        if max_tokens < 0:
            raise _bad(f"max_tokens: must be greater than or equal to 0 (found {max_tokens})")
        _check_string_list(params.get("stop_sequences"), "stop_sequences")
        if "stream" in params and not isinstance(params["stream"], bool):
            raise _bad("stream: Input should be a valid boolean")
        _check_sampling(params, version)
    _check_tools(params.get("tools"))
    model = find_model(model_name)
    if model is None or model.lifecycle == "retired":
        raise api_error(404, f"model: {model_name}")
    max_tokens = params.get("max_tokens")
    if not counting and isinstance(max_tokens, int) and max_tokens > model.max_tokens:
        raise _bad(
            f"max_tokens: {max_tokens} > {model.max_tokens}, which is the maximum allowed "
            f"number of output tokens for {model.id}"
        )
    return model


def _check_messages(messages: JSON) -> None:
    if not isinstance(messages, list):
        raise _bad("messages: Field required (a list of {role, content} turns)")
    if not messages:
        raise _bad("messages: at least one message is required")
    for index, turn in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(turn, dict):
            raise _bad(f"{where}: Input should be an object with role and content")
        if turn.get("role") not in ("user", "assistant", "system"):
            raise _bad(f"{where}.role: Input should be 'user' or 'assistant'")
        content = turn.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise _bad(f"{where}.content: Input should be a string or a list of content blocks")
        for position, block in enumerate(content):
            _check_block(block, f"{where}.content.{position}")


def _check_block(block: JSON, where: str) -> None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise _bad(f"{where}: Input should be a content block with a type")
    if block["type"] == "text" and not isinstance(block.get("text"), str):
        raise _bad(f"{where}.text: Field required")


def _check_system(system: JSON) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _bad("system: Input should be a string or a list of text blocks")
    for index, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _bad(f"system.{index}: Input should be a text block")
        if not isinstance(block.get("text"), str):
            raise _bad(f"system.{index}.text: Field required")


def _check_string_list(value: JSON, name: str) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _bad(f"{name}: Input should be a list of strings")


def _check_sampling(params: Mapping[str, JSON], version: str) -> None:
    for name in _SAMPLING:
        if name not in params:
            continue
        if version == MODERN_VERSION:
            raise _bad(
                f"{name}: sampling parameters are not supported with anthropic-version "
                f"{MODERN_VERSION}; remove it or send anthropic-version {OLD_VERSION}"
            )
        value = params[name]
        if name == "top_k":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _bad("top_k: Input should be an integer greater than or equal to 0")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise _bad(f"{name}: Input should be a number between 0 and 1 (found {value!r})")


def _check_tools(tools: JSON) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _bad("tools: Input should be a list of tool definitions")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise _bad(f"tools.{index}.name: Field required")
