"""Download a monthly Receita CNPJ dump over HTTP into a local folder.

The Receita has moved the dump several times. From 2019 to 2024 it was a flat
folder with an HTML listing, from August 2024 one ``YYYY-MM`` folder per
delivery, and from January 2026 a Nextcloud public share read through WebDAV.
Nextcloud's web interface can also hand out a whole folder as one zip. Every
URL comes from the caller, and :func:`download_dump` accepts each shape:

* a URL whose path ends in ``.zip`` is one file. When that zip contains zips,
  it is a month folder downloaded as one archive, and the inner zips are
  extracted next to it;
* any other URL is a folder. It is listed with a WebDAV ``PROPFIND`` first and,
  when the server does not answer 207 Multi-Status, as an HTML page whose
  ``.zip`` links are collected.

Files are streamed to ``NAME.part`` and renamed to ``NAME`` only after
``zipfile`` has read every member and checked its CRC, because the Receita
server often drops connections and publishes no checksums. A file under its
final name therefore passed that check, and a later run skips it when its
size equals the size the server reports.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import zipfile
import zlib
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from xml.etree import ElementTree

import attrs
import httpx
import structlog

log = structlog.get_logger(__name__)

#: Callback given the file name, the bytes on disk so far and the total size, or None if unknown.
ProgressCallback = Callable[[str, int, int | None], None]

#: Statuses that mean the server may succeed later. Other 5xx statuses, such as
#: 501 Not Implemented, do not change on retry.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

#: Maximum size of a folder listing. A month folder's WebDAV listing is about
#: 20 KB, so a larger response is not a listing.
MAX_LISTING_BYTES = 16 * 1024 * 1024

#: Folder names of the monthly deliveries, such as 2026-01.
MONTH_FOLDER_PATTERN = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")

_DAV = "{DAV:}"
_PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:"><d:prop>'
    b"<d:resourcetype/><d:getcontentlength/>"
    b"</d:prop></d:propfind>"
)

#: Asks the server not to compress, so that byte offsets for Range match the file on disk.
_IDENTITY = {"Accept-Encoding": "identity"}


@attrs.frozen
class DownloadSettings:
    """Timeouts, retry limits and buffer size of a dump download.

    ``max_attempts`` bounds the consecutive failed requests for one file or
    listing. A request that added bytes to a partial file resets that count,
    because the server is making progress. ``max_requests_per_file`` bounds
    the total, so that a server that drops every connection early still ends
    the download. Backoff starts at ``backoff_initial`` seconds, doubles per
    failure up to ``backoff_max`` and is shortened by up to half at random.
    The defaults are choices for a slow government server, not measurements.
    """

    timeout: httpx.Timeout = attrs.field(factory=lambda: httpx.Timeout(60.0, connect=30.0))
    max_attempts: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    max_requests_per_file: int = attrs.field(default=50, validator=attrs.validators.ge(1))
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    write_buffer_bytes: int = 1024 * 1024

    def backoff(self, failures: int) -> float:
        """Return the delay in seconds before the next request after ``failures`` failures."""
        delay: float = min(self.backoff_max, self.backoff_initial * 2.0 ** (failures - 1))
        return delay * random.uniform(0.5, 1.0)


DEFAULT_SETTINGS = DownloadSettings()


class DumpDownloadError(Exception):
    """Raised when a dump file or folder listing cannot be downloaded."""


class CorruptZipError(DumpDownloadError):
    """Raised when a downloaded or extracted zip fails its integrity check. The file is deleted."""

    def __init__(self, path: Path, source: str, reason: str) -> None:
        super().__init__(
            f"Zip file {path.name} (from {source}) is corrupt or truncated: {reason}. "
            f"It was deleted from {path.parent}. Run the download again; if it fails the "
            "same way, the copy on the server is damaged."
        )
        self.path = path
        self.source = source
        self.reason = reason


@attrs.frozen
class RemoteEntry:
    """A file or folder in a remote listing, with its size when the listing gives one."""

    url: str
    name: str
    is_folder: bool
    size: int | None = None


async def download_dump(
    url: str,
    dest: Path,
    client: httpx.AsyncClient,
    *,
    progress: ProgressCallback | None = None,
    settings: DownloadSettings = DEFAULT_SETTINGS,
) -> list[Path]:
    """Download a monthly dump into ``dest`` and return the paths of its zip files.

    ``url`` is one ``.zip`` file, a zip holding the month's zips, an HTML
    folder listing or a WebDAV folder. For a Nextcloud public share, pass the
    share's WebDAV URL, because the page a browser opens is a web application,
    not a directory listing. Credentials, when a server needs them, go on
    ``client``. Only links on the listing's own scheme, host and port are
    followed. Files are downloaded one after the other.
    When ``url`` is a zip of zips, the outer archive stays in ``dest`` so that
    a rerun can skip it, and the returned paths are the extracted inner zips.
    Raises DumpDownloadError when a request fails for good, and
    CorruptZipError when a zip fails its integrity check.
    """
    _require_http_url(url)
    await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)

    if urlsplit(url).path.lower().endswith(".zip"):
        entry = RemoteEntry(url=url, name=_file_name_from_url(url), is_folder=False)
        archive = await _download_file(entry, dest, client, settings, progress)
        inner = await _extract_inner_zips(archive, dest, url, progress)
        return inner or [archive]

    entries = await list_folder(url, client, settings=settings)
    zips = _unique_by_name(
        [entry for entry in entries if not entry.is_folder and entry.name.lower().endswith(".zip")]
    )
    if not zips:
        raise DumpDownloadError(
            f"No .zip file is listed at {url}. Check that the URL is a month folder, "
            "such as the one resolve_latest returns."
        )

    log.info("dump download started", url=url, files=len(zips), dest=str(dest))
    paths = [await _download_file(entry, dest, client, settings, progress) for entry in zips]
    log.info("dump download finished", url=url, files=len(paths), dest=str(dest))
    return paths


async def resolve_latest(
    base_url: str, client: httpx.AsyncClient, *, settings: DownloadSettings = DEFAULT_SETTINGS
) -> str:
    """Return the URL of the highest ``YYYY-MM`` folder listed at ``base_url``, with a final slash.

    The name decides, not the date on the server, because the Receita skips
    or delays some months and a late upload must not hide a newer delivery.
    """
    _require_http_url(base_url)
    entries = await list_folder(base_url, client, settings=settings)
    months = [entry for entry in entries if MONTH_FOLDER_PATTERN.fullmatch(entry.name)]
    if not months:
        raise DumpDownloadError(
            f"No YYYY-MM folder is listed at {base_url}. Check that the URL is the folder "
            "that contains the monthly deliveries."
        )

    latest = max(months, key=lambda entry: entry.name)
    url = latest.url if latest.url.endswith("/") else latest.url + "/"
    log.info("latest dump month resolved", base_url=base_url, month=latest.name, url=url)
    return url


async def list_folder(
    url: str, client: httpx.AsyncClient, *, settings: DownloadSettings = DEFAULT_SETTINGS
) -> list[RemoteEntry]:
    """List the files and folders directly inside a remote folder.

    WebDAV ``PROPFIND`` with ``Depth: 1`` is tried first. Any response other
    than 207 Multi-Status, such as 405 from a plain web server, leads to a
    GET of the URL as an HTML page. Links to other origins, and the folder
    itself, are left out.
    """
    _require_http_url(url)

    dav = await _request(
        client,
        "PROPFIND",
        url,
        settings,
        headers={"Depth": "1", "Content-Type": 'application/xml; charset="utf-8"'},
        content=_PROPFIND_BODY,
        retry_statuses=frozenset(),
    )
    if dav.status_code == httpx.codes.MULTI_STATUS:
        return _parse_multistatus(dav.body, dav.url)

    page = await _request(client, "GET", url, settings)
    if page.status_code != httpx.codes.OK:
        raise DumpDownloadError(
            f"Listing {url} failed: GET returned HTTP {page.status_code} and PROPFIND "
            f"returned HTTP {dav.status_code}. Check the URL."
        )
    return _parse_html_listing(page.body, page.url, page.charset)


# Listings ----------------------------------------------------------------------------------


def _parse_multistatus(body: bytes, base_url: str) -> list[RemoteEntry]:
    # ElementTree does not resolve external entities, and expat 2.4.1 and
    # later (Python 3.11 ships 2.5.0) limit entity expansion, so parsing a
    # server's listing is safe without defusedxml.
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as error:
        raise DumpDownloadError(
            f"WebDAV listing of {base_url} is not valid XML: {error}"
        ) from error

    entries: list[RemoteEntry] = []
    for response in root.iter(f"{_DAV}response"):
        href = (response.findtext(f"{_DAV}href") or "").strip()
        if not href:
            continue

        is_folder = False
        size: int | None = None
        for propstat in response.findall(f"{_DAV}propstat"):
            status = propstat.findtext(f"{_DAV}status") or ""
            prop = propstat.find(f"{_DAV}prop")
            if prop is None or " 200 " not in f"{status} ":
                continue
            if prop.find(f"{_DAV}resourcetype/{_DAV}collection") is not None:
                is_folder = True
            length = (prop.findtext(f"{_DAV}getcontentlength") or "").strip()
            if length.isdigit():
                size = int(length)

        entry = _make_entry(base_url, href, is_folder=is_folder, size=size)
        if entry is not None:
            entries.append(entry)
    return entries


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        for name, value in attrs:
            if name == "href" and value:
                self.hrefs.append(value.strip())


def _parse_html_listing(body: bytes, base_url: str, charset: str | None) -> list[RemoteEntry]:
    try:
        text = body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")

    collector = _LinkCollector()
    collector.feed(text)
    collector.close()

    entries: list[RemoteEntry] = []
    seen: set[str] = set()
    for href in collector.hrefs:
        # In directory listings a folder link ends with a slash; nothing else marks it.
        entry = _make_entry(base_url, href, is_folder=None, size=None)
        if entry is not None and entry.url not in seen:
            seen.add(entry.url)
            entries.append(entry)
    return entries


def _make_entry(
    base_url: str, href: str, *, is_folder: bool | None, size: int | None
) -> RemoteEntry | None:
    """Resolve ``href`` against the listing URL into an entry.

    Returns None for links to other origins, query links and the folder itself.
    """
    url, _fragment = urldefrag(urljoin(base_url, href))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or _origin(url) != _origin(base_url):
        return None
    if parts.query:
        # Links with a query are skipped: in Apache listings they are sort
        # links such as ?C=N;O=D that point back at the folder.
        return None

    path = unquote(parts.path)
    if path.rstrip("/") == unquote(urlsplit(base_url).path).rstrip("/"):
        return None

    name = PurePosixPath(path.rstrip("/")).name
    if not _is_safe_file_name(name):
        return None
    return RemoteEntry(
        url=url,
        name=name,
        is_folder=path.endswith("/") if is_folder is None else is_folder,
        size=size,
    )


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, parts.hostname, parts.port or default_port


def _unique_by_name(entries: list[RemoteEntry]) -> list[RemoteEntry]:
    unique: dict[str, RemoteEntry] = {}
    for entry in entries:
        if entry.name in unique:
            log.warning(
                "dump listing has two links with the same file name; using the first",
                file=entry.name,
                used=unique[entry.name].url,
                ignored=entry.url,
            )
            continue
        unique[entry.name] = entry
    return list(unique.values())


# Requests ----------------------------------------------------------------------------------


@attrs.frozen
class _Page:
    status_code: int
    url: str
    charset: str | None
    content_length: int | None
    body: bytes


class _RetryableError(Exception):
    pass


def _is_retryable_transport_error(error: httpx.TransportError) -> bool:
    return not isinstance(error, httpx.UnsupportedProtocol)


def _describe(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return f"{type(error).__name__}: timed out (see DownloadSettings.timeout)"
    return repr(error)


async def _request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    settings: DownloadSettings,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    retry_statuses: frozenset[int] = RETRY_STATUSES,
) -> _Page:
    """Send a request whose response body fits in memory and return the response.

    Connection errors and the statuses in ``retry_statuses`` are retried with backoff.
    """
    failures = 0
    while True:
        try:
            return await _request_once(
                client, method, url, settings, headers, content, retry_statuses
            )
        except httpx.TransportError as error:
            if not _is_retryable_transport_error(error):
                raise DumpDownloadError(f"{method} {url} failed: {error!r}") from error
            reason = _describe(error)
        except _RetryableError as error:
            reason = str(error)

        failures += 1
        if failures >= settings.max_attempts:
            raise DumpDownloadError(
                f"{method} {url} failed {failures} times in a row; last error: {reason}"
            )
        delay = settings.backoff(failures)
        log.warning("request failed; retrying", method=method, url=url, error=reason, delay=delay)
        await asyncio.sleep(delay)


async def _request_once(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    settings: DownloadSettings,
    headers: dict[str, str] | None,
    content: bytes | None,
    retry_statuses: frozenset[int],
) -> _Page:
    async with client.stream(
        method,
        url,
        headers={**_IDENTITY, **(headers or {})},
        content=content,
        timeout=settings.timeout,
        follow_redirects=True,
    ) as response:
        if response.status_code in retry_statuses:
            raise _RetryableError(f"HTTP {response.status_code}")

        chunks: list[bytes] = []
        size = 0
        if method != "HEAD" and response.status_code < 300:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_LISTING_BYTES:
                    raise DumpDownloadError(
                        f"{method} {url} returned more than {MAX_LISTING_BYTES} bytes, "
                        "too large for a folder listing. Pass a URL that ends in .zip "
                        "to download a single file."
                    )
                chunks.append(chunk)

        return _Page(
            status_code=response.status_code,
            url=str(response.url),
            charset=response.charset_encoding,
            content_length=_content_length(response),
            body=b"".join(chunks),
        )


async def _remote_size(
    url: str, client: httpx.AsyncClient, settings: DownloadSettings
) -> int | None:
    """Return the Content-Length that a HEAD request reports, or None when the server gives none."""
    page = await _request(client, "HEAD", url, settings)
    if page.status_code != httpx.codes.OK:
        return None
    return page.content_length


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else None


# Downloads ---------------------------------------------------------------------------------


async def _download_file(
    entry: RemoteEntry,
    dest: Path,
    client: httpx.AsyncClient,
    settings: DownloadSettings,
    progress: ProgressCallback | None,
) -> Path:
    """Download one zip to ``dest``, unless a complete copy is there, and verify it."""
    target = dest / entry.name
    part = dest / f"{entry.name}.part"
    expected = entry.size
    if expected is None:
        expected = await _remote_size(entry.url, client, settings)

    local_size = await asyncio.to_thread(_file_size, target)
    if local_size is not None:
        if local_size == expected:
            log.info("dump file already complete; skipped", file=entry.name, size=local_size)
            _report(progress, entry.name, local_size, expected)
            return target
        reason = (
            "server reports no size to compare with"
            if expected is None
            else "local size differs from the server's"
        )
        log.info(
            "downloading dump file again",
            file=entry.name,
            reason=reason,
            local_size=local_size,
            remote_size=expected,
        )

    log.info("dump file download started", file=entry.name, url=entry.url, size=expected)
    await _fetch_to_part(entry, part, expected, client, settings, progress)
    await _verify_zip(part, target, entry.url)
    await asyncio.to_thread(part.replace, target)
    log.info("dump file downloaded", file=entry.name, path=str(target))
    return target


async def _fetch_to_part(
    entry: RemoteEntry,
    part: Path,
    expected: int | None,
    client: httpx.AsyncClient,
    settings: DownloadSettings,
    progress: ProgressCallback | None,
) -> None:
    """Fill ``part`` with the remote file, resuming with Range after each interruption.

    A part file left by an earlier run may come from an older version of the
    remote file. The zip check after the download detects such a mix.
    """
    failures = 0
    for _request_number in range(settings.max_requests_per_file):
        offset = await asyncio.to_thread(_file_size, part) or 0
        if expected is not None and offset == expected:
            return
        if expected is not None and offset > expected:
            await asyncio.to_thread(part.unlink)
            offset = 0

        try:
            reason = await _stream_to_part(entry, part, offset, client, settings, progress)
        except httpx.TransportError as error:
            if not _is_retryable_transport_error(error):
                raise DumpDownloadError(f"GET {entry.url} failed: {error!r}") from error
            reason = _describe(error)
        except _RetryableError as error:
            reason = str(error)
        if reason is None:
            return

        on_disk = await asyncio.to_thread(_file_size, part) or 0
        failures = 1 if on_disk > offset else failures + 1
        if failures >= settings.max_attempts:
            raise DumpDownloadError(
                f"Download of {entry.url} failed {failures} times without progress; "
                f"last error: {reason}. {on_disk} bytes are kept in {part} for the next run."
            )

        delay = settings.backoff(failures)
        log.warning(
            "dump file download interrupted; resuming",
            file=entry.name,
            url=entry.url,
            error=reason,
            bytes_on_disk=on_disk,
            delay=delay,
        )
        await asyncio.sleep(delay)

    raise DumpDownloadError(
        f"Download of {entry.url} did not finish within {settings.max_requests_per_file} "
        f"requests; the partial file {part} is kept for the next run."
    )


async def _stream_to_part(
    entry: RemoteEntry,
    part: Path,
    offset: int,
    client: httpx.AsyncClient,
    settings: DownloadSettings,
    progress: ProgressCallback | None,
) -> str | None:
    """Send one GET for the bytes from ``offset`` on and append them to ``part``.

    Returns None when the file is complete, or else why it is not.
    """
    headers = dict(_IDENTITY)
    if offset:
        headers["Range"] = f"bytes={offset}-"

    async with client.stream(
        "GET", entry.url, headers=headers, timeout=settings.timeout, follow_redirects=True
    ) as response:
        status = response.status_code
        if status in RETRY_STATUSES:
            raise _RetryableError(f"HTTP {status}")

        if status == httpx.codes.REQUESTED_RANGE_NOT_SATISFIABLE and offset:
            _start, total = _parse_content_range(response.headers.get("Content-Range", ""))
            if total == offset:
                return None
            await asyncio.to_thread(part.unlink, missing_ok=True)
            raise _RetryableError(f"HTTP 416 for a resume at byte {offset}; starting over")

        if status == httpx.codes.PARTIAL_CONTENT:
            start, total = _parse_content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                await asyncio.to_thread(part.unlink, missing_ok=True)
                raise _RetryableError(
                    f"the server resumed at byte {start} instead of {offset}; starting over"
                )
            mode = "ab"
        elif status == httpx.codes.OK:
            if offset:
                log.info(
                    "server ignored the Range request; downloading from the start", file=entry.name
                )
            offset = 0
            mode = "wb"
            total = _content_length(response)
        else:
            raise DumpDownloadError(f"GET {entry.url} returned HTTP {status}. Check the URL.")

        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise DumpDownloadError(
                f"GET {entry.url} came back compressed with {encoding!r} although identity "
                "was requested, so its bytes cannot be saved as the zip file."
            )

        written = await _write_body(
            response, part, mode, offset, total, entry.name, settings, progress
        )

    if total is not None and written != total:
        return f"received {written} of {total} bytes"
    return None


async def _write_body(
    response: httpx.Response,
    part: Path,
    mode: str,
    offset: int,
    total: int | None,
    name: str,
    settings: DownloadSettings,
    progress: ProgressCallback | None,
) -> int:
    """Append the response body to ``part`` and return the file size afterwards."""
    handle = await asyncio.to_thread(part.open, mode)
    written = offset
    buffer = bytearray()
    try:
        async for chunk in response.aiter_raw():
            buffer += chunk
            if len(buffer) >= settings.write_buffer_bytes:
                await asyncio.to_thread(handle.write, bytes(buffer))
                written += len(buffer)
                buffer.clear()
                _report(progress, name, written, total)
    finally:
        # The bytes received before a dropped connection are written too, so
        # that the next request resumes after them.
        if buffer:
            await asyncio.to_thread(handle.write, bytes(buffer))
            written += len(buffer)
        await asyncio.to_thread(handle.close)

    _report(progress, name, written, total)
    return written


_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")


def _parse_content_range(value: str) -> tuple[int | None, int | None]:
    """Return the first byte and the total size of a Content-Range value, each None if unknown."""
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if match is None:
        return None, None
    start, total = match.groups()
    return (
        int(start) if start is not None else None,
        int(total) if total != "*" else None,
    )


# Zip checks and month archives -------------------------------------------------------------


async def _verify_zip(path: Path, final: Path, source: str) -> None:
    """Raise CorruptZipError naming ``final`` and delete ``path`` when the zip is damaged."""
    problem = await asyncio.to_thread(_zip_problem, path)
    if problem is None:
        return
    await asyncio.to_thread(path.unlink, missing_ok=True)
    raise CorruptZipError(final, source, problem)


def _zip_problem(path: Path) -> str | None:
    """Read every member of a zip and describe the first problem found, or return None."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
    except zipfile.BadZipFile as error:
        return f"not a readable zip archive ({error})"
    except (zlib.error, EOFError) as error:
        # testzip turns CRC mismatches into a member name, but a damaged
        # deflate stream or a cut-off member raises these instead.
        return f"damaged compressed data ({error})"

    if bad_member is not None:
        return f"member {bad_member!r} fails its CRC check"
    return None


async def _extract_inner_zips(
    archive: Path, dest: Path, source: str, progress: ProgressCallback | None
) -> list[Path]:
    """Extract the zips inside ``archive`` into ``dest`` and return their paths.

    Returns [] when ``archive`` contains no zip.

    An inner zip whose final file already has the member's size is skipped,
    because it passed the zip check before it got its final name.
    """
    members = await asyncio.to_thread(_inner_zip_members, archive)
    if not members:
        return []

    log.info(
        "dump archive contains the month's zips; extracting",
        archive=archive.name,
        files=len(members),
    )
    paths: list[Path] = []
    for member in members:
        name = _member_file_name(member.filename)
        target = dest / name
        if target == archive or target in paths:
            raise DumpDownloadError(
                f"Archive {archive.name} contains two zips named {name} in different "
                "folders, or a zip named like the archive itself. Extract it by hand."
            )

        if await asyncio.to_thread(_file_size, target) == member.file_size:
            log.info("extracted dump file already complete; skipped", file=name)
        else:
            part = dest / f"{name}.part"
            await asyncio.to_thread(_extract_member, archive, member.filename, part)
            await _verify_zip(part, target, f"{source}, member {member.filename}")
            await asyncio.to_thread(part.replace, target)
            log.info("dump file extracted", file=name, archive=archive.name)

        _report(progress, name, member.file_size, member.file_size)
        paths.append(target)
    return paths


def _inner_zip_members(archive: Path) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(archive) as opened:
        return [
            info
            for info in opened.infolist()
            if not info.is_dir() and info.filename.lower().endswith(".zip")
        ]


def _extract_member(archive: Path, member: str, part: Path) -> None:
    with zipfile.ZipFile(archive) as opened, opened.open(member) as source, part.open("wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)


def _member_file_name(member: str) -> str:
    # Members may sit in a folder inside the archive, written with either slash.
    # Only the last part is kept, so that nothing lands outside ``dest``.
    name = PurePosixPath(member.replace("\\", "/")).name
    if not _is_safe_file_name(name):
        raise DumpDownloadError(f"Archive member {member!r} has no usable file name.")
    return name


# Small helpers -----------------------------------------------------------------------------


def _require_http_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DumpDownloadError(f"Unsupported URL {url!r}: expected an absolute http or https URL.")


def _file_name_from_url(url: str) -> str:
    name = unquote(PurePosixPath(urlsplit(url).path).name)
    if not _is_safe_file_name(name):
        raise DumpDownloadError(f"URL {url} does not end in a usable file name.")
    return name


def _is_safe_file_name(name: str) -> bool:
    return name not in ("", ".", "..") and not any(char in name for char in "/\\\x00")


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _report(progress: ProgressCallback | None, name: str, done: int, total: int | None) -> None:
    if progress is not None:
        progress(name, done, total)
