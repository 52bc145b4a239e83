"""Signature checks for inbound webhooks from Twilio, Meta WhatsApp Cloud API and SendGrid.

Every function here works on the request exactly as it arrived: the raw body
bytes, the header values and the URL the provider called. Callers must run
them before parsing or storing anything, because a body that was decoded and
re-encoded (JSON key order, ``\\u`` escapes, whitespace) no longer matches
the signature. Each check returns a :class:`VerifiedSignature` or raises
:class:`SignatureRejected` with a stable ``reason_code`` that callers can log
and count. Configuration errors (an empty secret, an unreadable public key)
raise ``ValueError`` instead, because no request can fix them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key
from twilio.request_validator import RequestValidator

#: Header names as the providers send them.
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
META_SIGNATURE_HEADER = "X-Hub-Signature-256"
SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

#: Reason codes carried by :class:`SignatureRejected`.
MISSING_SIGNATURE = "missing_signature"
BAD_SIGNATURE = "bad_signature"
STALE_TIMESTAMP = "stale_timestamp"
FUTURE_TIMESTAMP = "future_timestamp"
MALFORMED = "malformed"
MISSING_VERIFY_TOKEN = "missing_verify_token"
BAD_VERIFY_TOKEN = "bad_verify_token"

#: Seconds a SendGrid event may be older (or newer, for clock skew) than ``now``.
#: This is a local choice, not a SendGrid rule: five minutes, the default of Stripe's
#: ``stripe.Webhook`` (``DEFAULT_TOLERANCE = 300`` in stripe 16.1).
DEFAULT_SENDGRID_TOLERANCE_SECONDS = 300

_META_PREFIX = "sha256="
_SHA256_HEX_LENGTH = 64


class SignatureRejected(Exception):
    """Webhook request whose signature is missing, invalid, malformed or replayed."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """Outcome of a successful check.

    ``signed_at`` is the Unix time in seconds that the provider signed, and is
    set only for SendGrid, the one provider here that signs a timestamp.
    """

    provider: str
    signed_at: int | None = None


# Twilio


class _MultiValueParams:
    """POST parameters with repeated names, in the ``getall`` shape RequestValidator reads."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def getall(self, name: str) -> list[str]:
        return self._values[name]


def build_twilio_url(public_base_url: str, raw_path: str, raw_query: str = "") -> str:
    """Build the URL Twilio signed from the configured public base URL and the request target.

    Behind a TLS-terminating proxy the application receives requests at its
    internal address (``http://internal:8080/...``), but Twilio signs the public
    URL that was configured in its console. Pass the path and query exactly as
    received, still percent-encoded (aiohttp: ``request.rel_url.raw_path`` and
    ``request.rel_url.raw_query_string``), because Twilio signs the encoded form.
    A path prefix in ``public_base_url`` (``https://host/garimpo``) is kept.
    """
    parts = urlsplit(public_base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"Invalid public base URL {public_base_url!r}: expected http(s)://host[:port][/prefix]."
        )
    if parts.query or parts.fragment:
        raise ValueError(
            f"Invalid public base URL {public_base_url!r}: remove the query string and fragment."
        )
    if not raw_path.startswith("/"):
        raise ValueError(f"Invalid request path {raw_path!r}: it must start with '/'.")

    url = public_base_url.rstrip("/") + raw_path
    if raw_query:
        url += "?" + raw_query
    return url


def _require_secret(secret: str, name: str) -> None:
    # Anyone can compute an HMAC with an empty key, so raise instead of checking with one.
    if not secret:
        raise ValueError(f"The {name} is empty: set it in the messaging provider settings.")


def verify_twilio(
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    signature: str | None,
    auth_token: str,
) -> VerifiedSignature:
    """Check ``X-Twilio-Signature`` on a form-encoded Twilio webhook.

    Twilio signs base64(HMAC-SHA1(auth token, url + each POST name and value,
    sorted by name)). The check is ``twilio.request_validator.RequestValidator``,
    which also accepts the URL with or without the default port. ``url`` must be
    the public URL Twilio called (see :func:`build_twilio_url`), and ``params``
    every form field as received, given as pairs when a name repeats.
    """
    _require_secret(auth_token, "Twilio auth token")
    if not signature:
        raise SignatureRejected(
            MISSING_SIGNATURE, f"The {TWILIO_SIGNATURE_HEADER} header is missing."
        )

    pairs = params.items() if isinstance(params, Mapping) else params
    form = _MultiValueParams(pairs)

    # NOTE: a request that carries X-Twilio-Webhooks-Signature-Settings was signed
    # with a SharedKey and possibly HMAC-SHA256, which this check does not read,
    # so such a request fails here as bad_signature.
    if not RequestValidator(auth_token).validate(url, form, signature):
        raise SignatureRejected(
            BAD_SIGNATURE,
            f"The {TWILIO_SIGNATURE_HEADER} header does not match the URL and parameters. "
            "Check that the URL is the public one configured in Twilio.",
        )
    return VerifiedSignature(provider="twilio")


def verify_twilio_json(
    url: str, raw_body: bytes, signature: str | None, auth_token: str
) -> VerifiedSignature:
    """Check a Twilio webhook with a JSON body, signed through ``bodySHA256`` in the URL.

    For JSON bodies Twilio adds ``bodySHA256`` (hex SHA-256 of the raw body) to
    the query string and signs the URL alone. The body hash is computed here on
    the raw bytes, because RequestValidator hashes a ``str`` and would need the
    body decoded first. The URL signature is then checked by RequestValidator.
    """
    _require_secret(auth_token, "Twilio auth token")
    if not signature:
        raise SignatureRejected(
            MISSING_SIGNATURE, f"The {TWILIO_SIGNATURE_HEADER} header is missing."
        )

    body_hashes = parse_qs(urlsplit(url).query).get("bodySHA256")
    if not body_hashes:
        raise SignatureRejected(
            MALFORMED, "The URL has no bodySHA256 query parameter, so the JSON body is unsigned."
        )

    computed_hash = hashlib.sha256(raw_body).hexdigest()
    body_hash_matches = hmac.compare_digest(computed_hash, body_hashes[0].lower())

    # Pass no parameters: with a JSON body Twilio signs only the URL.
    url_signature_matches = RequestValidator(auth_token).validate(url, {}, signature)

    if not (body_hash_matches and url_signature_matches):
        raise SignatureRejected(
            BAD_SIGNATURE,
            f"The {TWILIO_SIGNATURE_HEADER} header or the bodySHA256 value does not match the request.",
        )
    return VerifiedSignature(provider="twilio")


# Meta WhatsApp Cloud API


def verify_meta(raw_body: bytes, header: str | None, app_secret: str) -> VerifiedSignature:
    """Check ``X-Hub-Signature-256`` on a Meta webhook.

    The header is ``sha256=`` followed by the hex HMAC-SHA256 of the raw body
    with the app secret as the key. The digest is taken over the bytes as
    received, whatever escaping Meta chose for non-ASCII text.
    """
    _require_secret(app_secret, "Meta app secret")
    if not header:
        raise SignatureRejected(
            MISSING_SIGNATURE, f"The {META_SIGNATURE_HEADER} header is missing."
        )
    if not header.startswith(_META_PREFIX):
        raise SignatureRejected(
            MALFORMED, f"The {META_SIGNATURE_HEADER} header does not start with {_META_PREFIX!r}."
        )

    received_hex = header[len(_META_PREFIX) :].strip().lower()
    if len(received_hex) != _SHA256_HEX_LENGTH or not _is_hex(received_hex):
        raise SignatureRejected(
            MALFORMED, f"The {META_SIGNATURE_HEADER} value is not 64 hexadecimal digits."
        )

    expected_hex = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected_hex, received_hex):
        raise SignatureRejected(
            BAD_SIGNATURE, f"The {META_SIGNATURE_HEADER} header does not match the request body."
        )
    return VerifiedSignature(provider="meta")


def _is_hex(text: str) -> bool:
    return all(character in "0123456789abcdef" for character in text)


def verification_challenge(
    mode: str | None, token: str | None, challenge: str | None, expected_token: str
) -> str:
    """Check Meta's GET subscription handshake and return ``hub.challenge`` to echo back.

    Meta calls the webhook URL with ``hub.mode=subscribe``, ``hub.verify_token``
    (the token typed into the app dashboard) and ``hub.challenge``, and expects
    the challenge as the response body.
    """
    _require_secret(expected_token, "Meta webhook verify token")
    if mode != "subscribe":
        raise SignatureRejected(MALFORMED, f"hub.mode is {mode!r}, expected 'subscribe'.")
    if not challenge:
        raise SignatureRejected(MALFORMED, "hub.challenge is missing.")
    if not token:
        raise SignatureRejected(MISSING_VERIFY_TOKEN, "hub.verify_token is missing.")
    if not hmac.compare_digest(token.encode("utf-8"), expected_token.encode("utf-8")):
        raise SignatureRejected(
            BAD_VERIFY_TOKEN, "hub.verify_token does not match the configured verify token."
        )
    return challenge


# SendGrid signed event webhook


def load_sendgrid_public_key(public_key: str) -> ec.EllipticCurvePublicKey:
    """Load the SendGrid verification key, given as base64 DER or as PEM.

    SendGrid's settings page shows the key as base64 of a DER SubjectPublicKeyInfo
    without PEM armour. The key must be ECDSA on P-256.
    """
    text = public_key.strip()
    if not text:
        raise ValueError(
            "The SendGrid verification key is empty: copy it from the Event Webhook settings."
        )

    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode("ascii"))
        else:
            key = load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, UnicodeEncodeError, UnsupportedAlgorithm) as error:
        raise ValueError(
            "Invalid SendGrid verification key: expected base64 DER or PEM of an EC public key."
        ) from error

    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("Invalid SendGrid verification key: expected an ECDSA P-256 public key.")
    return key


def verify_sendgrid(
    raw_body: bytes,
    signature_b64: str | None,
    timestamp: str | None,
    public_key: str | ec.EllipticCurvePublicKey,
    *,
    now: float,
    tolerance_seconds: int = DEFAULT_SENDGRID_TOLERANCE_SECONDS,
) -> VerifiedSignature:
    """Check a SendGrid signed event webhook batch.

    SendGrid signs the timestamp header value followed by the raw body with
    ECDSA P-256 and SHA-256, and sends the DER signature base64-encoded.
    ``now`` is the current Unix time in seconds. The signature is checked before
    the timestamp, so ``stale_timestamp`` means a genuine but replayed or
    delayed request. ``public_key`` may be preloaded with
    :func:`load_sendgrid_public_key` to skip parsing on every request.
    """
    if tolerance_seconds < 0:
        raise ValueError(f"tolerance_seconds must be zero or more, got {tolerance_seconds}.")
    key = load_sendgrid_public_key(public_key) if isinstance(public_key, str) else public_key

    if not signature_b64:
        raise SignatureRejected(
            MISSING_SIGNATURE, f"The {SENDGRID_SIGNATURE_HEADER} header is missing."
        )
    if not timestamp:
        raise SignatureRejected(
            MISSING_SIGNATURE, f"The {SENDGRID_TIMESTAMP_HEADER} header is missing."
        )

    # str.isdigit accepts non-ASCII digits, so require ASCII as well.
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise SignatureRejected(
            MALFORMED, f"The {SENDGRID_TIMESTAMP_HEADER} value is not a Unix time in seconds."
        )
    # binascii.Error is a ValueError, and b64decode raises plain ValueError for non-ASCII text.
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        raise SignatureRejected(
            MALFORMED, f"The {SENDGRID_SIGNATURE_HEADER} value is not valid base64."
        ) from None

    # cryptography raises InvalidSignature for a wrong signature and for
    # bytes that are not a DER-encoded ECDSA signature.
    try:
        key.verify(signature, timestamp.encode("ascii") + raw_body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureRejected(
            BAD_SIGNATURE,
            f"The {SENDGRID_SIGNATURE_HEADER} header does not match the timestamp and body.",
        ) from None

    signed_at = int(timestamp)
    if now - signed_at > tolerance_seconds:
        raise SignatureRejected(
            STALE_TIMESTAMP,
            f"The event was signed {now - signed_at:.0f} s ago, more than the {tolerance_seconds} s allowed.",
        )
    if signed_at - now > tolerance_seconds:
        raise SignatureRejected(
            FUTURE_TIMESTAMP,
            f"The event timestamp is {signed_at - now:.0f} s in the future, more than the {tolerance_seconds} s allowed.",
        )
    return VerifiedSignature(provider="sendgrid", signed_at=signed_at)
