"""Standard Webhooks signatures: secrets, signing and verification on raw bytes.

A secret is ``whsec_`` followed by the base64 of 24-64 random bytes (32 by default). A
signature is ``v1,`` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.".encode() + body)); a
header may carry several, space-separated, which is how key rotation works: the sender signs
with the new and the old key, and a receiver that knows either accepts.

Verification is stricter than the reference libraries (``docs/emitter.md``, Security): the timestamp must
be digits only (``1700000000.9``, ``nan`` and ``-5`` are refused rather than floored), the
body and the signature list are capped before any HMAC is computed, malformed entries are
skipped rather than crashing, and every failure is a :class:`VerificationError` with a
``reason`` code.

Example::

    secret = generate_secret()
    header = sign("msg_1", 1700000000, b'{"type":"x"}', [secret])
    verify(b'{"type":"x"}', {"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
           "webhook-signature": header}, [secret], now=1700000000)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets as _random
import time
from collections.abc import Iterable, Mapping, Sequence

from connector.errors import SubscriptionError, VerificationError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_SIGNATURES",
    "SECRET_PREFIX",
    "Signer",
    "generate_secret",
    "parse_secret",
    "sign",
    "verify",
]

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
# The emitter's hard payload cap is 64 KB; a receiver allows some headroom, no more.
MAX_BODY_BYTES = 1024 * 1024
# Svix keeps at most 10 old keys; a header with more entries than that is hostile.
MAX_SIGNATURES = 16
_MAX_SIGNATURE_HEADER = 4096
_MAX_ID_LENGTH = 256
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_BASE64_SECRET = re.compile(r"[A-Za-z0-9+/]+={0,2}")

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def generate_secret() -> str:
    """A fresh signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(32)).decode("ascii")


def parse_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_`` secret.

    Raises :class:`SubscriptionError` (``field="secret"``) for an empty secret, a missing
    prefix, text that is not base64, or a key shorter than 24 or longer than 64 bytes. The
    message never contains the secret.
    """
    if not isinstance(secret, str) or not secret:
        raise SubscriptionError("the signing secret is empty", field="secret")
    if not secret.startswith(SECRET_PREFIX):
        raise SubscriptionError(
            f"a signing secret must start with {SECRET_PREFIX!r}", field="secret"
        )
    encoded = secret[len(SECRET_PREFIX) :]
    if not _BASE64_SECRET.fullmatch(encoded):
        raise SubscriptionError("the signing secret is not base64 after its prefix", field="secret")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SubscriptionError(
            "the signing secret is not base64 after its prefix", field="secret"
        ) from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise SubscriptionError(
            f"a signing secret must hold {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes, "
            f"this one holds {len(key)}",
            field="secret",
        )
    return key


def _keys(secrets: str | Sequence[str]) -> list[bytes]:
    items = [secrets] if isinstance(secrets, str) else list(secrets)
    if not items:
        raise SubscriptionError("at least one signing secret is needed", field="secret")
    return [parse_secret(s) for s in items]


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode(), hashlib.sha256)
    mac.update(body)
    return mac.digest()


class Signer:
    """Signs with fixed secrets: each key is parsed once and held as a keyed HMAC that every
    signature copies (``hmac.new(key).copy()``), so a deliverer signing many attempts for
    one subscription pays neither the parsing nor the key setup again. Its repr shows no key.
    """

    __slots__ = ("_macs",)

    def __init__(self, secrets: str | Sequence[str]) -> None:
        self._macs = tuple(hmac.new(k, digestmod=hashlib.sha256) for k in _keys(secrets))

    def __repr__(self) -> str:
        return f"Signer({len(self._macs)} secret(s))"

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The ``webhook-signature`` header value: one ``v1,<base64>`` entry per secret."""
        if not msg_id or "." in msg_id:
            raise SubscriptionError("a webhook id must be non-empty and contain no '.'", field="id")
        head = f"{msg_id}.{int(timestamp)}.".encode()
        entries = []
        for keyed in self._macs:
            mac = keyed.copy()
            mac.update(head)
            mac.update(body)
            entries.append("v1," + base64.b64encode(mac.digest()).decode("ascii"))
        return " ".join(entries)


def sign(msg_id: str, timestamp: int, body: bytes, secrets: str | Sequence[str]) -> str:
    """The ``webhook-signature`` header value: one ``v1,<base64>`` entry per secret."""
    if not msg_id or "." in msg_id:
        raise SubscriptionError("a webhook id must be non-empty and contain no '.'", field="id")
    return Signer(secrets).sign(msg_id, timestamp, body)


def _header_map(headers: Headers) -> dict[str, list[str]]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    found: dict[str, list[str]] = {}
    for name, value in pairs:
        found.setdefault(str(name).lower(), []).append(str(value))
    return found


def _one(found: dict[str, list[str]], name: str) -> str:
    values = found.get(f"webhook-{name}") or found.get(f"svix-{name}") or []
    if not values or not values[0]:
        raise VerificationError(f"the webhook-{name} header is missing", reason="missing-header")
    if len(set(values)) > 1:
        raise VerificationError(
            f"the webhook-{name} header appears more than once", reason="missing-header"
        )
    return values[0]


def verify(
    body: bytes,
    headers: Headers,
    secrets: str | Sequence[str],
    *,
    now: float | None = None,
    tolerance: int = 300,
    max_body: int = MAX_BODY_BYTES,
    max_signatures: int = MAX_SIGNATURES,
) -> str:
    """Check a delivery's Standard Webhooks headers against its raw body; return its id.

    ``headers`` is a mapping or a list of pairs (names compared case-insensitively;
    ``webhook-*`` preferred, ``svix-*`` accepted). The timestamp must be digits only and
    within ``tolerance`` seconds of ``now`` in both directions. Any ``v1`` entry made with any
    of ``secrets`` passes; unknown versions are ignored. Raises only :class:`VerificationError`
    (for a bad secret argument, :class:`SubscriptionError`).
    """
    keys = _keys(secrets)
    if not isinstance(body, bytes | bytearray | memoryview):
        raise VerificationError("the body must be raw bytes", reason="bad-payload")
    if len(body) > max_body:
        raise VerificationError(f"the body is over {max_body} bytes", reason="too-large")
    found = _header_map(headers)
    msg_id = _one(found, "id")
    stamp = _one(found, "timestamp")
    signature = _one(found, "signature")
    if len(msg_id) > _MAX_ID_LENGTH or "." in msg_id or not msg_id.isprintable():
        raise VerificationError("the webhook-id header is malformed", reason="missing-header")
    if not _TIMESTAMP.fullmatch(stamp):
        raise VerificationError(
            "the webhook-timestamp header must be integer seconds", reason="bad-timestamp"
        )
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise VerificationError(
            "the webhook-timestamp is outside the tolerance", reason="stale-timestamp"
        )
    if len(signature) > _MAX_SIGNATURE_HEADER:
        raise VerificationError("the webhook-signature header is too long", reason="too-large")
    entries = signature.split()
    if len(entries) > max_signatures:
        raise VerificationError("too many signatures in webhook-signature", reason="too-large")
    expected = [_digest(k, msg_id, timestamp, bytes(body)) for k in keys]
    for entry in entries:
        version, comma, encoded = entry.partition(",")
        if version != "v1" or not comma:
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Compare against every key without stopping early, so timing says nothing about
        # which key matched.
        if any([hmac.compare_digest(given, e) for e in expected]):
            return msg_id
    raise VerificationError("no signature matches", reason="bad-signature")
