"""Parts of every e-mail that the gateways send: sender, unsubscribe link, text and HTML bodies.

The engine passes the tenant's one-click unsubscribe link in
``message.variables["unsubscribe_url"]`` and an optional reply address in
``message.variables["reply_to"]``. Both gateways put the link in the
``List-Unsubscribe`` header (RFC 2369) with ``List-Unsubscribe-Post`` for
one-click unsubscription (RFC 8058), and in a pt-BR footer of the body.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from application.messaging import OutboundMessage, SendError
from domain.qualification import Channel, SendFailure

UNSUBSCRIBE_URL_VARIABLE = "unsubscribe_url"
REPLY_TO_VARIABLE = "reply_to"
UNSUBSCRIBE_FOOTER = "Para não receber mais nossos e-mails, acesse: {url}"
#: RFC 8058: the body a mail client POSTs to the List-Unsubscribe URL.
ONE_CLICK_POST = "List-Unsubscribe=One-Click"

# A character that would end the header's <...> or start a new header line.
_UNSAFE_IN_HEADER = re.compile(r"[\s<>\"]")


def require_email(message: OutboundMessage, provider: str) -> None:
    """Raise a permanent SendError for a message that an e-mail gateway cannot send."""
    if message.channel is not Channel.EMAIL:
        raise SendError(
            SendFailure.NOT_ON_CHANNEL,
            "channel_not_supported",
            f"{provider} sends e-mail only, not {message.channel.value}",
        )
    if not message.subject or not message.subject.strip():
        raise SendError(SendFailure.PERMANENT, "missing_subject", "an e-mail needs a subject")


def unsubscribe_url(message: OutboundMessage) -> str | None:
    """Return the checked unsubscribe link, or None when the engine passed none."""
    url = message.variables.get(UNSUBSCRIBE_URL_VARIABLE)
    if not url:
        return None

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or _UNSAFE_IN_HEADER.search(url):
        raise SendError(
            SendFailure.PERMANENT,
            "invalid_unsubscribe_url",
            "the unsubscribe link must be an http(s) URL without spaces, quotes or angle brackets",
        )
    return url


def unsubscribe_headers(url: str | None) -> dict[str, str]:
    if url is None:
        return {}
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": ONE_CLICK_POST}


def reply_to_address(message: OutboundMessage) -> str | None:
    return message.variables.get(REPLY_TO_VARIABLE) or None


def sender_address(message: OutboundMessage, default_sender: str) -> str:
    return message.sender or default_sender


def text_body(message: OutboundMessage, url: str | None) -> str:
    """Return the plain-text body, with the unsubscribe footer after the signature separator."""
    if url is None:
        return message.body
    return f"{message.body.rstrip()}\n\n-- \n{UNSUBSCRIBE_FOOTER.format(url=url)}\n"


def html_body(message: OutboundMessage, url: str | None) -> str:
    """Return the HTML alternative: the text escaped, paragraphs kept, and the footer as a link."""
    paragraphs = [part for part in re.split(r"\n\s*\n", message.body.strip()) if part.strip()]
    rendered = "".join(
        f"<p>{html.escape(paragraph).replace(chr(10), '<br>')}</p>" for paragraph in paragraphs
    )
    if url is not None:
        link = f'<a href="{html.escape(url, quote=True)}">{html.escape(url)}</a>'
        footer = html.escape(UNSUBSCRIBE_FOOTER.format(url="\0")).replace("\0", link)
        rendered += f'<hr><p style="font-size:small">{footer}</p>'
    return f"<!DOCTYPE html><html><body>{rendered}</body></html>"
