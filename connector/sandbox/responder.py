"""Deterministic replies: the Messages API's validation and a small rule-based "model".

The same request always gets the same answer: questions about a capital are answered, simple
arithmetic is worked out, short texts are echoed and long ones summarised. Token counts grow
with the text (a word or a punctuation mark is a token; long words count more). Stop
sequences, ``max_tokens`` and forced tool use behave as the API documents them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Final

from connector.errors import UpstreamError

from .catalog import ModelRecord
from .wire import JSON, api_error

__all__ = [
    "MODERN_VERSION",
    "OLD_VERSION",
    "count_input_tokens",
    "count_tokens",
    "reply",
    "validate_message_params",
]

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
_TOKEN = re.compile(r"\w+|[^\w\s]")
_CAPITALS = {
    "australia": "Canberra",
    "brazil": "Brasília",
    "canada": "Ottawa",
    "china": "Beijing",
    "egypt": "Cairo",
    "england": "London",
    "france": "Paris",
    "germany": "Berlin",
    "india": "New Delhi",
    "italy": "Rome",
    "japan": "Tokyo",
    "kenya": "Nairobi",
    "mexico": "Mexico City",
    "netherlands": "Amsterdam",
    "nigeria": "Abuja",
    "poland": "Warsaw",
    "portugal": "Lisbon",
    "spain": "Madrid",
    "sweden": "Stockholm",
    "switzerland": "Bern",
    "the united kingdom": "London",
    "the united states": "Washington, D.C.",
    "united kingdom": "London",
    "united states": "Washington, D.C.",
    "uk": "London",
    "usa": "Washington, D.C.",
}
_CAPITAL_QUESTION = re.compile(r"capital (?:city )?of ([a-z .]+?)\s*(?:\?|$|\.|,)", re.IGNORECASE)
_ARITHMETIC = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/×x])\s*(-?\d+(?:\.\d+)?)")
_GREETING = re.compile(r"^\s*(hi|hello|hey)\b", re.IGNORECASE)
_ECHO_WORDS = 25


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


def count_tokens(text: str) -> int:
    """Tokens in ``text``: one per word or punctuation mark, one more per six letters past six."""
    return sum(1 + max(0, len(token) - 6) // 6 for token in _TOKEN.findall(text))


def _block_text(block: JSON) -> str:
    if not isinstance(block, dict):
        return ""
    if block.get("type") == "text":
        return str(block.get("text", ""))
    if block.get("type") == "tool_result":
        content = block.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(_block_text(part) for part in content)
    return ""


def _content_text(content: JSON) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(filter(None, (_block_text(block) for block in content)))
    return ""


def count_input_tokens(params: Mapping[str, JSON]) -> int:
    """The ``input_tokens`` of a request: text tokens, other blocks by size, a few per turn."""
    total = 3
    system = params.get("system")
    if isinstance(system, str):
        total += count_tokens(system)
    elif isinstance(system, list):
        total += sum(count_tokens(_block_text(block)) for block in system)
    for turn in params.get("messages") or []:
        total += 4
        content = turn.get("content") if isinstance(turn, dict) else None
        total += count_tokens(_content_text(content))
        if isinstance(content, list):
            others = [b for b in content if isinstance(b, dict) and b.get("type") != "text"]
            total += sum(len(json.dumps(block)) // 4 for block in others)
    if params.get("tools"):
        total += len(json.dumps(params["tools"])) // 4
    return total


def _answer(question: str) -> str:
    text = " ".join(question.split())
    if not text:
        return "I received your message."
    capital = _CAPITAL_QUESTION.search(text)
    if capital:
        country = capital.group(1).strip().lower()
        city = _CAPITALS.get(country)
        name = capital.group(1).strip()
        if city:
            return f"The capital of {name[:1].upper()}{name[1:]} is {city}."
        return f"I do not know the capital of {name}."
    sum_match = _ARITHMETIC.search(text)
    if sum_match:
        return _arithmetic(*sum_match.groups())
    if _GREETING.match(text):
        return "Hello! How can I help you today?"
    words = text.split(" ")
    if len(words) <= _ECHO_WORDS:
        return f'You said: "{text}"'
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].split(" ")[:_ECHO_WORDS]
    return f"Summary of your {len(words)}-word message: {' '.join(first)}..."


def _arithmetic(left: str, operator: str, right: str) -> str:
    a, b = float(left), float(right)
    if operator == "+":
        value = a + b
    elif operator == "-":
        value = a - b
    elif operator in "*×x":
        value = a * b
    elif b == 0:
        return f"{left} / {right} is undefined: division by zero."
    else:
        value = a / b
    shown = str(int(value)) if value == int(value) else f"{value:.6g}"
    return f"{left} {operator} {right} = {shown}."


def _forced_tool(params: Mapping[str, JSON]) -> dict[str, JSON] | None:
    tools = [t for t in params.get("tools") or [] if isinstance(t, dict)]
    choice = params.get("tool_choice")
    if not tools or not isinstance(choice, dict):
        return None
    if choice.get("type") == "tool":
        return next((t for t in tools if t.get("name") == choice.get("name")), None)
    if choice.get("type") == "any":
        return tools[0]
    return None


def _tool_input(tool: Mapping[str, JSON], text: str) -> dict[str, JSON]:
    schema = tool.get("input_schema")
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties") or {}
    samples: dict[str, JSON] = {
        "string": text[:200],
        "integer": 1,
        "number": 1.0,
        "boolean": True,
        "array": [],
        "object": {},
    }
    return {
        name: samples.get(str(spec.get("type")) if isinstance(spec, dict) else "", text[:200])
        for name, spec in properties.items()
        if name in (schema.get("required") or [])
    }


def reply(
    params: Mapping[str, JSON],
    model: ModelRecord,
    message_id: str,
    *,
    tool_use_id: str = "",
    service_tier: str = "standard",
) -> dict[str, JSON]:
    """The Message object answering a validated request (API reference §2.1)."""
    turns = [t for t in params.get("messages") or [] if isinstance(t, dict)]
    users = [t for t in turns if t.get("role") == "user"]
    question = _content_text(users[-1].get("content")) if users else ""
    input_tokens = count_input_tokens(params)
    max_tokens = int(params.get("max_tokens") or 0)
    tool = _forced_tool(params)
    content: list[JSON]
    stop_sequence: str | None = None
    if tool is not None and max_tokens > 0:
        tool_input = _tool_input(tool, question)
        content = [
            {
                "type": "tool_use",
                "id": tool_use_id,
                "name": tool["name"],
                "input": tool_input,
                "caller": {"type": "direct"},
                "toolset_name": None,
            }
        ]
        stop_reason = "tool_use"
        output_tokens = 10 + len(json.dumps(tool_input)) // 4
    else:
        text, stop_reason, stop_sequence = _shape(_answer(question), params, max_tokens)
        content = [{"type": "text", "text": text, "citations": None}] if text else []
        output_tokens = count_tokens(text)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model.id,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        # Declared by the newest SDKs (required in their TypeScript types, nullable): present
        # as null when they do not apply, never missing.
        "stop_details": None,
        "container": None,
        "diagnostics": None,
        "context_management": None,  # and the beta Message's two
        "input_transformations": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "service_tier": service_tier,
            "inference_geo": None,
            "output_tokens_details": None,
            "server_tool_use": None,
            "speed": "standard",
            "fallback_credit": None,
            "iterations": None,
        },
    }


def _shape(text: str, params: Mapping[str, JSON], max_tokens: int) -> tuple[str, str, str | None]:
    """Cut the reply at the first stop sequence, then at ``max_tokens`` tokens."""
    stop_reason, matched = "end_turn", None
    cut = len(text)
    for sequence in params.get("stop_sequences") or []:
        position = text.find(sequence) if sequence else -1
        if 0 <= position < cut:
            cut, matched = position, sequence
    if matched is not None:
        text, stop_reason = text[:cut], "stop_sequence"
    tokens = list(_TOKEN.finditer(text))
    kept, used = 0, 0
    for token in tokens:
        cost = 1 + max(0, len(token.group()) - 6) // 6
        if used + cost > max_tokens:
            return text[: tokens[kept - 1].end()] if kept else "", "max_tokens", None
        used += cost
        kept += 1
    return text, stop_reason, matched
