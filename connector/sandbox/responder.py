"""Deterministic replies: a small rule-based "model" (the validation is in :mod:`.validation`).

The same request always gets the same answer: questions about a capital are answered, simple
arithmetic is worked out, short texts are echoed and long ones summarised. Token counts grow
with the text (a word or a punctuation mark is a token; long words count more). Stop
sequences, ``max_tokens`` and forced tool use behave as the API documents them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from .catalog import ModelRecord
from .validation import MODERN_VERSION, OLD_VERSION, validate_message_params
from .wire import JSON

__all__ = [
    "MODERN_VERSION",
    "OLD_VERSION",
    "count_input_tokens",
    "count_tokens",
    "reply",
    "validate_message_params",
]

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
    """The Message object answering a validated request."""
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
