"""Standard Webhooks signing: interoperability with the PyPI verifiers and strict verification."""

from __future__ import annotations

import base64
import time

import pytest
import standardwebhooks
import svix.webhooks
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.emitter.signing import generate_secret, parse_secret, sign, verify
from connector.errors import SubscriptionError, VerificationError

NOW = 1_700_000_000
BODY = b'{"type":"files.created","timestamp":"2023-11-14T22:13:20Z","data":{"id":"file_1"}}'


def _headers(msg_id: str, ts: int, signature: str) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_generate_secret_is_whsec_with_32_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(parse_secret(secret)) == 32
    assert generate_secret() != secret


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "whsec_",
        "whsec_" + base64.b64encode(b"x" * 23).decode(),
        "whsec_" + base64.b64encode(b"x" * 65).decode(),
        "whsec_!!!notbase64!!!",
        base64.b64encode(b"x" * 32).decode(),
        "whsk_" + base64.b64encode(b"x" * 32).decode(),
    ],
)
def test_parse_secret_refuses_bad_secrets(bad: str) -> None:
    with pytest.raises(SubscriptionError) as info:
        parse_secret(bad)
    assert info.value.field == "secret"
    if len(bad) > 10:
        assert bad[6:] not in str(info.value)


def _verify_with_libraries(secret: str, headers: dict[str, str], body: bytes) -> None:
    standardwebhooks.Webhook(secret).verify(body, dict(headers))
    svix.webhooks.Webhook(secret).verify(body, dict(headers))


def test_sign_verifies_with_standardwebhooks_and_svix() -> None:
    secret = generate_secret()
    now = int(time.time())
    headers = _headers("evt_abc", now, sign("evt_abc", now, BODY, [secret]))
    _verify_with_libraries(secret, headers, BODY)
    assert verify(BODY, headers, [secret], now=now) == "evt_abc"


def test_libraries_reject_any_changed_byte_of_our_signature() -> None:
    secret = generate_secret()
    now = int(time.time())
    headers = _headers("evt_abc", now, sign("evt_abc", now, BODY, [secret]))
    for changed in (
        {**headers, "webhook-id": "evt_abd"},
        {**headers, "webhook-timestamp": str(now - 1)},
    ):
        with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
            standardwebhooks.Webhook(secret).verify(BODY, changed)
        with pytest.raises(svix.webhooks.WebhookVerificationError):
            svix.webhooks.Webhook(secret).verify(BODY, changed)
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.webhooks.Webhook(secret).verify(BODY.replace(b"file_1", b"file_2"), headers)


def test_rotation_signatures_each_verify_alone_with_libraries() -> None:
    new, old = generate_secret(), generate_secret()
    now = int(time.time())
    headers = _headers("evt_1", now, sign("evt_1", now, BODY, [new, old]))
    _verify_with_libraries(new, headers, BODY)
    _verify_with_libraries(old, headers, BODY)


def test_signature_fails_when_any_byte_changes() -> None:
    secret = generate_secret()
    header = sign("evt_abc", NOW, BODY, secret)
    verify(BODY, _headers("evt_abc", NOW, header), secret, now=NOW)
    for i in range(len(BODY)):
        flipped = BODY[:i] + bytes([BODY[i] ^ 1]) + BODY[i + 1 :]
        with pytest.raises(VerificationError) as info:
            verify(flipped, _headers("evt_abc", NOW, header), secret, now=NOW)
        assert info.value.reason == "bad-signature"
    with pytest.raises(VerificationError):
        verify(BODY, _headers("evt_abd", NOW, header), secret, now=NOW)
    with pytest.raises(VerificationError):
        verify(BODY, _headers("evt_abc", NOW + 1, header), secret, now=NOW)


def test_sign_with_two_secrets_each_verifies_alone() -> None:
    new, old = generate_secret(), generate_secret()
    header = sign("evt_1", NOW, BODY, [new, old])
    assert header.count("v1,") == 2
    verify(BODY, _headers("evt_1", NOW, header), new, now=NOW)
    verify(BODY, _headers("evt_1", NOW, header), old, now=NOW)
    with pytest.raises(VerificationError):
        verify(BODY, _headers("evt_1", NOW, header), generate_secret(), now=NOW)


@pytest.mark.parametrize("skew", [-300, -299, 0, 299, 300])
def test_verify_accepts_timestamps_within_tolerance(skew: int) -> None:
    secret = generate_secret()
    ts = NOW + skew
    verify(BODY, _headers("m", ts, sign("m", ts, BODY, secret)), secret, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301, -86400, 10**9])
def test_verify_rejects_timestamps_outside_tolerance(skew: int) -> None:
    secret = generate_secret()
    ts = NOW + skew
    with pytest.raises(VerificationError) as info:
        verify(BODY, _headers("m", ts, sign("m", ts, BODY, secret)), secret, now=NOW)
    assert info.value.reason == "stale-timestamp"


@pytest.mark.parametrize(
    "stamp", ["1700000000.9", "nan", "inf", "1e9", "-5", "+1700000000", " 1700000000", ""]
)
def test_verify_rejects_non_integer_timestamps(stamp: str) -> None:
    secret = generate_secret()
    header = sign("m", NOW, BODY, secret)
    with pytest.raises(VerificationError) as info:
        verify(
            BODY,
            {"webhook-id": "m", "webhook-timestamp": stamp, "webhook-signature": header},
            secret,
            now=NOW,
        )
    assert info.value.reason in {"bad-timestamp", "missing-header"}


@pytest.mark.parametrize(
    "signature", ["v1", "v1,a,b", "v1,  v1,", "v2,abc", "v1a,abc", ",,,", "v1,@@@"]
)
def test_verify_malformed_signature_lists_are_bad_signature(signature: str) -> None:
    secret = generate_secret()
    with pytest.raises(VerificationError) as info:
        verify(BODY, _headers("m", NOW, signature), secret, now=NOW)
    assert info.value.reason == "bad-signature"


def test_verify_ignores_unknown_versions_next_to_a_good_one() -> None:
    secret = generate_secret()
    header = "v2,zzz v1a,abc  " + sign("m", NOW, BODY, secret)
    assert verify(BODY, _headers("m", NOW, header), secret, now=NOW) == "m"


def test_verify_caps_signature_entries_and_body() -> None:
    secret = generate_secret()
    good = sign("m", NOW, BODY, secret)
    many = " ".join(["v1,AAAA"] * 100 + [good])
    with pytest.raises(VerificationError) as info:
        verify(BODY, _headers("m", NOW, many), secret, now=NOW)
    assert info.value.reason == "too-large"
    big = b"x" * 2_000_000
    with pytest.raises(VerificationError) as info:
        verify(big, _headers("m", NOW, sign("m", NOW, big, secret)), secret, now=NOW)
    assert info.value.reason == "too-large"


def test_verify_rejects_conflicting_duplicate_headers() -> None:
    secret = generate_secret()
    pairs = [
        ("webhook-id", "m"),
        ("Webhook-Id", "other"),
        ("webhook-timestamp", str(NOW)),
        ("webhook-signature", sign("m", NOW, BODY, secret)),
    ]
    with pytest.raises(VerificationError) as info:
        verify(BODY, pairs, secret, now=NOW)
    assert info.value.reason == "missing-header"


def test_verify_missing_headers() -> None:
    secret = generate_secret()
    with pytest.raises(VerificationError) as info:
        verify(BODY, {}, secret, now=NOW)
    assert info.value.reason == "missing-header"


@settings(max_examples=300, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "svix-id", "x"]),
        st.text(max_size=60),
    ),
    body=st.binary(max_size=200),
)
def test_verify_fuzz_raises_only_verification_error(headers: dict[str, str], body: bytes) -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    try:
        verify(body, headers, secret, now=NOW)
    except VerificationError:
        pass
