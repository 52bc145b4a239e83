"""Inbound webhook signatures for Twilio, Meta and SendGrid, signed with the real algorithms.

The expected signatures are computed here with hmac, hashlib and cryptography,
independently of the code under test. No test opens a network connection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sendgrid.helpers.eventwebhook import EventWebhook

from adapters.messaging.signatures import (
    BAD_SIGNATURE,
    BAD_VERIFY_TOKEN,
    FUTURE_TIMESTAMP,
    MALFORMED,
    MISSING_SIGNATURE,
    MISSING_VERIFY_TOKEN,
    STALE_TIMESTAMP,
    SignatureRejected,
    build_twilio_url,
    load_sendgrid_public_key,
    verification_challenge,
    verify_meta,
    verify_sendgrid,
    verify_twilio,
    verify_twilio_json,
)

NOW = 1_800_000_000

# Twilio

AUTH_TOKEN = "twilio-auth-token-de-teste"
PUBLIC_BASE_URL = "https://api.example.com.br"
PUBLIC_URL = "https://api.example.com.br/v1/webhooks/twilio"
INTERNAL_URL = "http://internal:8080/v1/webhooks/twilio"
FORM = {
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "From": "whatsapp:+5511987654321",
    "To": "whatsapp:+5511912345678",
    "Body": "Não, obrigado. Escreva para contato@empresa.com.br",
}


def twilio_signature(token: str, url: str, pairs: list[tuple[str, str]]) -> str:
    # Twilio's scheme: the URL, then each name followed by its value, sorted by
    # name, HMAC-SHA1 with the auth token, base64. Values of a repeated name
    # are sorted too, as twilio.request_validator does.
    signed = url
    for name in sorted({name for name, _ in pairs}):
        for value in sorted({value for key, value in pairs if key == name}):
            signed += name + value
    digest = hmac.new(token.encode(), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def rejection(error: pytest.ExceptionInfo[SignatureRejected]) -> str:
    return error.value.reason_code


def test_twilio_valid_signature_passes() -> None:
    signature = twilio_signature(AUTH_TOKEN, PUBLIC_URL, list(FORM.items()))

    result = verify_twilio(PUBLIC_URL, FORM, signature, AUTH_TOKEN)

    assert result.provider == "twilio"
    assert result.signed_at is None


def test_twilio_repeated_names_as_pairs() -> None:
    pairs = [
        *FORM.items(),
        ("MediaUrl", "https://example.com/b"),
        ("MediaUrl", "https://example.com/a"),
    ]
    signature = twilio_signature(AUTH_TOKEN, PUBLIC_URL, pairs)

    assert verify_twilio(PUBLIC_URL, pairs, signature, AUTH_TOKEN).provider == "twilio"


def test_twilio_tampered_parameter_fails() -> None:
    signature = twilio_signature(AUTH_TOKEN, PUBLIC_URL, list(FORM.items()))
    tampered = {**FORM, "Body": "Sim, tenho interesse"}

    with pytest.raises(SignatureRejected) as error:
        verify_twilio(PUBLIC_URL, tampered, signature, AUTH_TOKEN)

    assert rejection(error) == BAD_SIGNATURE


def test_twilio_added_parameter_fails() -> None:
    signature = twilio_signature(AUTH_TOKEN, PUBLIC_URL, list(FORM.items()))
    extended = {**FORM, "OptOutType": "STOP"}

    with pytest.raises(SignatureRejected) as error:
        verify_twilio(PUBLIC_URL, extended, signature, AUTH_TOKEN)

    assert rejection(error) == BAD_SIGNATURE


def test_twilio_wrong_auth_token_fails() -> None:
    signature = twilio_signature("outro-token", PUBLIC_URL, list(FORM.items()))

    with pytest.raises(SignatureRejected) as error:
        verify_twilio(PUBLIC_URL, FORM, signature, AUTH_TOKEN)

    assert rejection(error) == BAD_SIGNATURE


@pytest.mark.parametrize("signature", [None, ""])
def test_twilio_missing_header(signature: str | None) -> None:
    with pytest.raises(SignatureRejected) as error:
        verify_twilio(PUBLIC_URL, FORM, signature, AUTH_TOKEN)

    assert rejection(error) == MISSING_SIGNATURE


def test_twilio_empty_auth_token_is_config_error() -> None:
    with pytest.raises(ValueError, match="auth token"):
        verify_twilio(PUBLIC_URL, FORM, "qualquer", "")


def test_twilio_behind_tls_proxy_uses_public_url() -> None:
    # Twilio signed the public HTTPS URL, while the application behind the
    # proxy receives the same request at its internal address.
    signature = twilio_signature(AUTH_TOKEN, PUBLIC_URL, list(FORM.items()))
    rebuilt_url = build_twilio_url(PUBLIC_BASE_URL, "/v1/webhooks/twilio")

    assert rebuilt_url == PUBLIC_URL
    assert verify_twilio(rebuilt_url, FORM, signature, AUTH_TOKEN).provider == "twilio"

    with pytest.raises(SignatureRejected) as error:
        verify_twilio(INTERNAL_URL, FORM, signature, AUTH_TOKEN)
    assert rejection(error) == BAD_SIGNATURE


def test_twilio_url_keeps_encoded_query_and_prefix() -> None:
    raw_query = "tenant=t%C3%A9ste&canal=sms"
    signed_url = f"https://api.example.com.br/garimpo/v1/webhooks/twilio?{raw_query}"
    signature = twilio_signature(AUTH_TOKEN, signed_url, list(FORM.items()))

    rebuilt_url = build_twilio_url(
        "https://api.example.com.br/garimpo/", "/v1/webhooks/twilio", raw_query
    )

    assert rebuilt_url == signed_url
    assert verify_twilio(rebuilt_url, FORM, signature, AUTH_TOKEN).provider == "twilio"


@pytest.mark.parametrize(
    ("base_url", "path"),
    [
        ("api.example.com.br", "/v1/webhooks/twilio"),
        ("ftp://api.example.com.br", "/v1/webhooks/twilio"),
        ("https://api.example.com.br?x=1", "/v1/webhooks/twilio"),
        ("https://api.example.com.br", "v1/webhooks/twilio"),
    ],
)
def test_twilio_url_rejects_bad_config(base_url: str, path: str) -> None:
    with pytest.raises(ValueError):
        build_twilio_url(base_url, path)


def json_webhook_url(raw_body: bytes) -> str:
    return f"{PUBLIC_URL}?bodySHA256={hashlib.sha256(raw_body).hexdigest()}"


def test_twilio_json_body_hash_passes() -> None:
    raw_body = '{"MessageSid":"SM1","Body":"Não, obrigado"}'.encode()
    url = json_webhook_url(raw_body)
    signature = twilio_signature(AUTH_TOKEN, url, [])

    assert verify_twilio_json(url, raw_body, signature, AUTH_TOKEN).provider == "twilio"


def test_twilio_json_tampered_body_fails() -> None:
    raw_body = b'{"MessageSid":"SM1","Body":"nao"}'
    url = json_webhook_url(raw_body)
    signature = twilio_signature(AUTH_TOKEN, url, [])

    with pytest.raises(SignatureRejected) as error:
        verify_twilio_json(url, b'{"MessageSid":"SM1","Body":"sim"}', signature, AUTH_TOKEN)

    assert rejection(error) == BAD_SIGNATURE


def test_twilio_json_wrong_auth_token_fails() -> None:
    raw_body = b'{"MessageSid":"SM1"}'
    url = json_webhook_url(raw_body)
    signature = twilio_signature("outro-token", url, [])

    with pytest.raises(SignatureRejected) as error:
        verify_twilio_json(url, raw_body, signature, AUTH_TOKEN)

    assert rejection(error) == BAD_SIGNATURE


def test_twilio_json_without_body_hash() -> None:
    signature = twilio_signature(AUTH_TOKEN, PUBLIC_URL, [])

    with pytest.raises(SignatureRejected) as error:
        verify_twilio_json(PUBLIC_URL, b"{}", signature, AUTH_TOKEN)

    assert rejection(error) == MALFORMED


def test_twilio_json_missing_header() -> None:
    raw_body = b"{}"

    with pytest.raises(SignatureRejected) as error:
        verify_twilio_json(json_webhook_url(raw_body), raw_body, None, AUTH_TOKEN)

    assert rejection(error) == MISSING_SIGNATURE


# Meta WhatsApp Cloud API

APP_SECRET = "meta-app-secret-de-teste"
META_EVENT = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "contacts": [
                            {"profile": {"name": "José Araújo"}, "wa_id": "5511987654321"}
                        ],
                        "messages": [
                            {
                                "from": "5511987654321",
                                "id": "wamid.HBgLNTUxMTk4NzY1NDMyMRUCABIYFDNB",
                                "timestamp": "1800000000",
                                "type": "text",
                                "text": {"body": "Não, obrigado. Falem com compras@empresa.com.br"},
                            }
                        ],
                    },
                }
            ],
        }
    ],
}


def meta_header(secret: str, raw_body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def utf8_meta_body() -> bytes:
    return json.dumps(META_EVENT, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_meta_valid_signature_passes() -> None:
    raw_body = utf8_meta_body()

    result = verify_meta(raw_body, meta_header(APP_SECRET, raw_body), APP_SECRET)

    assert result.provider == "meta"


def test_meta_accepts_uppercase_hex() -> None:
    raw_body = utf8_meta_body()
    header = "sha256=" + meta_header(APP_SECRET, raw_body).removeprefix("sha256=").upper()

    assert verify_meta(raw_body, header, APP_SECRET).provider == "meta"


def test_meta_tampered_body_fails() -> None:
    raw_body = utf8_meta_body()
    header = meta_header(APP_SECRET, raw_body)
    tampered = raw_body.replace("Não, obrigado".encode(), b"Sim, quero")

    with pytest.raises(SignatureRejected) as error:
        verify_meta(tampered, header, APP_SECRET)

    assert rejection(error) == BAD_SIGNATURE


def test_meta_wrong_app_secret_fails() -> None:
    raw_body = utf8_meta_body()

    with pytest.raises(SignatureRejected) as error:
        verify_meta(raw_body, meta_header("outro-segredo", raw_body), APP_SECRET)

    assert rejection(error) == BAD_SIGNATURE


@pytest.mark.parametrize("header", [None, ""])
def test_meta_missing_header(header: str | None) -> None:
    with pytest.raises(SignatureRejected) as error:
        verify_meta(utf8_meta_body(), header, APP_SECRET)

    assert rejection(error) == MISSING_SIGNATURE


@pytest.mark.parametrize(
    "header",
    [
        "sha1=" + "a" * 40,
        "a" * 64,
        "sha256=" + "g" * 64,
        "sha256=" + "a" * 63,
        "sha256=",
    ],
)
def test_meta_malformed_header(header: str) -> None:
    with pytest.raises(SignatureRejected) as error:
        verify_meta(utf8_meta_body(), header, APP_SECRET)

    assert rejection(error) == MALFORMED


def test_meta_utf8_body_needs_raw_bytes() -> None:
    # The body carries accented text and an e-mail address as real UTF-8 bytes.
    raw_body = utf8_meta_body()
    header = meta_header(APP_SECRET, raw_body)
    reserialised = json.dumps(json.loads(raw_body)).encode("utf-8")

    assert "Não, obrigado".encode() in raw_body
    assert b"compras@empresa.com.br" in raw_body
    assert verify_meta(raw_body, header, APP_SECRET).provider == "meta"

    with pytest.raises(SignatureRejected) as error:
        verify_meta(reserialised, header, APP_SECRET)
    assert rejection(error) == BAD_SIGNATURE


def test_meta_escaped_body_needs_raw_bytes() -> None:
    # The same event with non-ASCII text sent as \u escapes: the signature
    # covers those escapes, so decoding them to UTF-8 breaks it.
    raw_body = json.dumps(META_EVENT, separators=(",", ":")).encode("ascii")
    header = meta_header(APP_SECRET, raw_body)
    unescaped = json.dumps(json.loads(raw_body), ensure_ascii=False, separators=(",", ":")).encode()

    assert b"N\\u00e3o" in raw_body
    assert verify_meta(raw_body, header, APP_SECRET).provider == "meta"

    with pytest.raises(SignatureRejected) as error:
        verify_meta(unescaped, header, APP_SECRET)
    assert rejection(error) == BAD_SIGNATURE


def test_meta_empty_app_secret_is_config_error() -> None:
    with pytest.raises(ValueError, match="app secret"):
        verify_meta(b"{}", "sha256=" + "a" * 64, "")


VERIFY_TOKEN = "token-de-verificacao"


def test_meta_challenge_returns_challenge() -> None:
    assert (
        verification_challenge("subscribe", VERIFY_TOKEN, "1158201444", VERIFY_TOKEN)
        == "1158201444"
    )


@pytest.mark.parametrize(
    ("mode", "token", "challenge", "reason"),
    [
        ("subscribe", "token-errado", "1158201444", BAD_VERIFY_TOKEN),
        ("subscribe", None, "1158201444", MISSING_VERIFY_TOKEN),
        ("subscribe", "", "1158201444", MISSING_VERIFY_TOKEN),
        ("unsubscribe", VERIFY_TOKEN, "1158201444", MALFORMED),
        (None, VERIFY_TOKEN, "1158201444", MALFORMED),
        ("subscribe", VERIFY_TOKEN, None, MALFORMED),
        ("subscribe", VERIFY_TOKEN, "", MALFORMED),
    ],
)
def test_meta_challenge_rejects(
    mode: str | None, token: str | None, challenge: str | None, reason: str
) -> None:
    with pytest.raises(SignatureRejected) as error:
        verification_challenge(mode, token, challenge, VERIFY_TOKEN)

    assert rejection(error) == reason


def test_meta_challenge_empty_expected_token() -> None:
    with pytest.raises(ValueError, match="verify token"):
        verification_challenge("subscribe", "", "1158201444", "")


# SendGrid signed event webhook

# An event batch (a JSON array) with CRLF between events and a non-ASCII
# category, so its bytes differ from what json.dumps writes for the same data.
SENDGRID_BATCH = (
    '[{"email":"compras@empresa.com.br","timestamp":1799999990,"event":"delivered",'
    '"sg_event_id":"ZGVsaXZlcmVkLTAtMTIz","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001",'
    '"response":"250 OK"},\r\n'
    '{"email":"compras@empresa.com.br","timestamp":1799999995,"event":"open",'
    '"sg_event_id":"b3Blbi0xLTQ1Ng","useragent":"Mozilla/5.0","ip":"203.0.113.7",'
    '"category":["qualificação"]}]\r\n'
).encode()


@pytest.fixture(scope="module")
def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def public_key_b64(private_key: ec.EllipticCurvePrivateKey) -> str:
    # The form SendGrid's settings page shows: base64 of the DER SubjectPublicKeyInfo.
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def sendgrid_sign(private_key: ec.EllipticCurvePrivateKey, timestamp: str, raw_body: bytes) -> str:
    der_signature = private_key.sign(timestamp.encode() + raw_body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(der_signature).decode()


def test_sendgrid_valid_signature_passes(
    private_key: ec.EllipticCurvePrivateKey, public_key_b64: str
) -> None:
    timestamp = str(NOW - 5)
    signature = sendgrid_sign(private_key, timestamp, SENDGRID_BATCH)

    result = verify_sendgrid(SENDGRID_BATCH, signature, timestamp, public_key_b64, now=NOW)

    assert result.provider == "sendgrid"
    assert result.signed_at == NOW - 5


def test_sendgrid_matches_sdk_helper(
    private_key: ec.EllipticCurvePrivateKey, public_key_b64: str
) -> None:
    # sendgrid.helpers.eventwebhook verifies (timestamp + payload) too, so both
    # must accept the same request.
    timestamp = str(NOW)
    signature = sendgrid_sign(private_key, timestamp, SENDGRID_BATCH)
    sdk_helper = EventWebhook(public_key_b64)

    assert sdk_helper.verify_signature(SENDGRID_BATCH.decode("utf-8"), signature, timestamp)
    assert verify_sendgrid(SENDGRID_BATCH, signature, timestamp, public_key_b64, now=NOW)


def test_sendgrid_accepts_pem_and_loaded_key(
    private_key: ec.EllipticCurvePrivateKey, public_key_b64: str
) -> None:
    timestamp = str(NOW)
    signature = sendgrid_sign(private_key, timestamp, SENDGRID_BATCH)
    pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    loaded = load_sendgrid_public_key(public_key_b64)

    assert (
        verify_sendgrid(SENDGRID_BATCH, signature, timestamp, pem, now=NOW).provider == "sendgrid"
    )
    assert (
        verify_sendgrid(SENDGRID_BATCH, signature, timestamp, loaded, now=NOW).provider
        == "sendgrid"
    )


def test_sendgrid_tampered_body_fails(
    private_key: ec.EllipticCurvePrivateKey, public_key_b64: str
) -> None:
    timestamp = str(NOW)
    signature = sendgrid_sign(private_key, timestamp, SENDGRID_BATCH)
    tampered = SENDGRID_BATCH.replace(b'"event":"open"', b'"event":"click"')

    with pytest.raises(SignatureRejected) as error:
        verify_sendgrid(tampered, signature, timestamp, public_key_b64, now=NOW)

    assert rejection(error) == BAD_SIGNATURE


def test_sendgrid_wrong_key_fails(private_key: ec.EllipticCurvePrivateKey) -> None:
    timestamp = str(NOW)
    signature = sendgrid_sign(private_key, timestamp, SENDGRID_BATCH)
    other_key = ec.generate_private_key(ec.SECP256R1()).public_key()

    with pytest.raises(SignatureRejected) as error:
        verify_sendgrid(SENDGRID_BATCH, signature, timestamp, other_key, now=NOW)

    assert rejection(error) == BAD_SIGNATURE


def test_sendgrid_swapped_timestamp_fails(
    private_key: ec.EllipticCurvePrivateKey, public_key_b64: str
) -> None:
    # The timestamp is part of the signed bytes, so a fresh timestamp on an old
    # signature does not pass.
    signature = sendgrid_sign(private_key, str(NOW - 3600), SENDGRID_BATCH)

    with pytest.raises(SignatureRejected) as error:
        verify_sendgrid(SENDGRID_BATCH, signature, str(NOW), public_key_b64, now=NOW)

    assert rejection(error) == BAD_SIGNATURE


def test_sendgrid_replayed_event_is_stale(
    private_key: ec.EllipticCurvePrivateKey, public_key_b64: str
) -> None:
    timestamp = str(NOW - 301)
    signature = sendgrid_sign(private_key, timestamp, SENDGRID_BATCH)

    with pytest.raises(SignatureRejected) as error:
        verify_sendgrid(SENDGRID_BATCH, signature, timestamp, public_key_b64, now=NOW)

    assert rejection(error) == STALE_TIMESTAMP


def test_sendgrid_tolerance_edge_passes(
    private_key: ec.EllipticCurvePrivateKey, public_key_b64: str
) -> None:
    timestamp = str(NOW - 300)
    signature = sendgrid_sign(private_key, timestamp, SENDGRID_BATCH)

    assert verify_sendgrid(SENDGRID_BATCH, signature, timestamp, public_key_b64, now=NOW)


def test_sendgrid_custom_tolerance(
    private_key: ec.EllipticCurvePrivateKey, public_key_b64: str
) -> None:
    timestamp = str(NOW - 61)
    signature = sendgrid_sign(private_key, timestamp, SENDGRID_BATCH)

    with pytest.raises(SignatureRejected) as error:
        verify_sendgrid(
            SENDGRID_BATCH, signature, timestamp, public_key_b64, now=NOW, tolerance_seconds=60
        )

    assert rejection(error) == STALE_TIMESTAMP


def test_sendgrid_future_timestamp_fails(
    private_key: ec.EllipticCurvePrivateKey, public_key_b64: str
) -> None:
    timestamp = str(NOW + 301)
    signature = sendgrid_sign(private_key, timestamp, SENDGRID_BATCH)

    with pytest.raises(SignatureRejected) as error:
        verify_sendgrid(SENDGRID_BATCH, signature, timestamp, public_key_b64, now=NOW)

    assert rejection(error) == FUTURE_TIMESTAMP


@pytest.mark.parametrize(
    ("signature", "timestamp"), [(None, str(NOW)), ("", str(NOW)), ("c2ln", None), ("c2ln", "")]
)
def test_sendgrid_missing_header(
    public_key_b64: str, signature: str | None, timestamp: str | None
) -> None:
    with pytest.raises(SignatureRejected) as error:
        verify_sendgrid(SENDGRID_BATCH, signature, timestamp, public_key_b64, now=NOW)

    assert rejection(error) == MISSING_SIGNATURE


@pytest.mark.parametrize(
    ("signature", "timestamp"),
    [
        ("não é base64!", str(NOW)),
        ("c2ln", "1800000000.5"),
        ("c2ln", "-1800000000"),
        ("c2ln", "١٨٠٠٠٠٠٠٠٠"),
    ],
)
def test_sendgrid_malformed_header(public_key_b64: str, signature: str, timestamp: str) -> None:
    with pytest.raises(SignatureRejected) as error:
        verify_sendgrid(SENDGRID_BATCH, signature, timestamp, public_key_b64, now=NOW)

    assert rejection(error) == MALFORMED


def test_sendgrid_base64_non_der_signature(public_key_b64: str) -> None:
    garbage = base64.b64encode(b"not a DER ECDSA signature").decode()

    with pytest.raises(SignatureRejected) as error:
        verify_sendgrid(SENDGRID_BATCH, garbage, str(NOW), public_key_b64, now=NOW)

    assert rejection(error) == BAD_SIGNATURE


def test_sendgrid_needs_raw_body(
    private_key: ec.EllipticCurvePrivateKey, public_key_b64: str
) -> None:
    timestamp = str(NOW)
    signature = sendgrid_sign(private_key, timestamp, SENDGRID_BATCH)
    reserialised = json.dumps(json.loads(SENDGRID_BATCH)).encode("utf-8")

    assert verify_sendgrid(SENDGRID_BATCH, signature, timestamp, public_key_b64, now=NOW)

    with pytest.raises(SignatureRejected) as error:
        verify_sendgrid(reserialised, signature, timestamp, public_key_b64, now=NOW)
    assert rejection(error) == BAD_SIGNATURE


@pytest.mark.parametrize("bad_key", ["", "bm90IGEga2V5", "não é base64"])
def test_sendgrid_unreadable_key_is_config_error(bad_key: str) -> None:
    with pytest.raises(ValueError, match="SendGrid verification key"):
        load_sendgrid_public_key(bad_key)


def test_sendgrid_rejects_non_p256_keys() -> None:
    rsa_der = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    p384_der = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    for der in (rsa_der, p384_der):
        with pytest.raises(ValueError, match="P-256"):
            load_sendgrid_public_key(base64.b64encode(der).decode())


def test_sendgrid_negative_tolerance_is_config_error(public_key_b64: str) -> None:
    with pytest.raises(ValueError, match="tolerance_seconds"):
        verify_sendgrid(
            SENDGRID_BATCH, "c2ln", str(NOW), public_key_b64, now=NOW, tolerance_seconds=-1
        )
