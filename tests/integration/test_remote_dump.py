"""Download dumps from local HTTP servers shaped like the places the Receita has published them.

Each server is an aiohttp app on 127.0.0.1: an HTML directory listing, a
WebDAV folder like a Nextcloud public share, single zips and a month folder
downloaded as one zip.
"""

from __future__ import annotations

import asyncio
import io
import random
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from adapters.receita.remote import (
    CorruptZipError,
    DownloadSettings,
    DumpDownloadError,
    download_dump,
    list_folder,
    resolve_latest,
)
from tests.support.http_server import LocalHttpServer, respond_truncated, respond_with_range

#: Short backoff and few attempts keep the failure tests fast.
FAST = DownloadSettings(
    timeout=httpx.Timeout(5.0),
    max_attempts=3,
    backoff_initial=0.01,
    backoff_max=0.05,
    write_buffer_bytes=16 * 1024,
)


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


CNAES_ZIP = make_zip({"F.K03200$Z.D61108.CNAECSV": b'"0111301";"Cultivo de arroz"\n' * 200})
EMPRESAS_ZIP = make_zip(
    {"K3241.K03200Y0.D61108.EMPRECSV": b'"00000000";"EMPRESA EXEMPLO";"2062";"49";"0,00"\n' * 500}
)
IMUNES_ZIP = make_zip({"Imunes e Isentas.csv": b"2026;00000000000191;;;\n" * 100})
#: Incompressible and stored, so that it spans several network reads and a cut lands mid-file.
LARGE_ZIP = make_zip(
    {"K3241.K03200Y1.D61108.ESTABELE": random.Random(7).randbytes(300_000)},
    compression=zipfile.ZIP_STORED,
)


def corrupt_member_data(archive: bytes) -> bytes:
    """Flip one byte inside the first member's data, so that its CRC no longer matches."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        info = opened.infolist()[0]
    name_length = int.from_bytes(
        archive[info.header_offset + 26 : info.header_offset + 28], "little"
    )
    extra_length = int.from_bytes(
        archive[info.header_offset + 28 : info.header_offset + 30], "little"
    )
    position = info.header_offset + 30 + name_length + extra_length + info.compress_size // 2
    damaged = bytearray(archive)
    damaged[position] ^= 0xFF
    return bytes(damaged)


def file_names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def html_listing(*hrefs: str) -> str:
    links = "\n".join(f'<a href="{href}">{href}</a><br>' for href in hrefs)
    return f"<html><head><title>Index</title></head><body><h1>Index</h1>{links}</body></html>"


def multistatus(*entries: tuple[str, bool, int | None]) -> bytes:
    """Build a WebDAV 207 body from (href, is_collection, size) tuples, as Nextcloud writes it."""
    responses = []
    for href, is_collection, size in entries:
        resourcetype = "<d:collection/>" if is_collection else ""
        length = f"<d:getcontentlength>{size}</d:getcontentlength>" if size is not None else ""
        missing = "" if size is not None else "<d:getcontentlength/>"
        responses.append(
            f"<d:response><d:href>{href}</d:href>"
            f"<d:propstat><d:prop><d:resourcetype>{resourcetype}</d:resourcetype>{length}</d:prop>"
            "<d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
            f"<d:propstat><d:prop>{missing}</d:prop>"
            "<d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>"
            "</d:response>"
        )
    return (
        '<?xml version="1.0"?>'
        '<d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
        + "".join(responses)
        + "</d:multistatus>"
    ).encode("utf-8")


def serve_multistatus(server: LocalHttpServer, path: str, body: bytes) -> None:
    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=207, body=body, headers={"Content-Type": "application/xml; charset=utf-8"}
        )

    server.route("PROPFIND", path, handler)


@pytest.fixture
async def server() -> AsyncIterator[LocalHttpServer]:
    async with LocalHttpServer() as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False keeps proxy variables from routing local requests elsewhere.
    async with httpx.AsyncClient(trust_env=False) as http_client:
        yield http_client


async def test_single_zip(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    server.serve_bytes("/dados/2026-11/Cnaes.zip", CNAES_ZIP)
    reports: list[tuple[str, int, int | None]] = []

    paths = await download_dump(
        server.url("/dados/2026-11/Cnaes.zip"),
        tmp_path / "dump",
        client,
        progress=lambda name, done, total: reports.append((name, done, total)),
        settings=FAST,
    )

    assert paths == [tmp_path / "dump" / "Cnaes.zip"]
    assert paths[0].read_bytes() == CNAES_ZIP
    assert not (tmp_path / "dump" / "Cnaes.zip.part").exists()
    assert reports[-1] == ("Cnaes.zip", len(CNAES_ZIP), len(CNAES_ZIP))


async def test_zip_of_zips_extracted(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    month = make_zip(
        {"2026-11/Cnaes.zip": CNAES_ZIP, "2026-11/Empresas0.zip": EMPRESAS_ZIP},
        compression=zipfile.ZIP_STORED,
    )
    server.serve_bytes("/2026-11.zip", month)

    paths = await download_dump(server.url("/2026-11.zip"), tmp_path, client, settings=FAST)

    assert paths == [tmp_path / "Cnaes.zip", tmp_path / "Empresas0.zip"]
    assert paths[0].read_bytes() == CNAES_ZIP
    assert paths[1].read_bytes() == EMPRESAS_ZIP
    assert (tmp_path / "2026-11.zip").read_bytes() == month
    assert file_names(tmp_path) == [
        "2026-11.zip",
        "Cnaes.zip",
        "Empresas0.zip",
    ]


async def test_zip_of_zips_rerun_skips(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    month = make_zip({"Cnaes.zip": CNAES_ZIP}, compression=zipfile.ZIP_STORED)
    server.serve_bytes("/2026-11.zip", month)

    first = await download_dump(server.url("/2026-11.zip"), tmp_path, client, settings=FAST)
    second = await download_dump(server.url("/2026-11.zip"), tmp_path, client, settings=FAST)

    assert first == second == [tmp_path / "Cnaes.zip"]
    assert len(server.requests_for("GET", "/2026-11.zip")) == 1


async def test_html_listing(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    async with LocalHttpServer() as other_origin:
        other_origin.serve_bytes("/Socios0.zip", CNAES_ZIP)
        server.serve_text(
            "/dados/2026-11/",
            html_listing(
                "../",
                "?C=N;O=D",
                "Cnaes.zip",
                "/dados/2026-11/Empresas0.zip",
                server.url("/dados/2026-11/Imunes%20e%20Isentas.zip"),
                other_origin.url("/Socios0.zip"),
                "LEIAME.txt",
                "subpasta/",
                "Cnaes.zip#topo",
            ),
        )
        server.serve_bytes("/dados/2026-11/Cnaes.zip", CNAES_ZIP)
        server.serve_bytes("/dados/2026-11/Empresas0.zip", EMPRESAS_ZIP)
        server.serve_bytes("/dados/2026-11/Imunes e Isentas.zip", IMUNES_ZIP)

        paths = await download_dump(server.url("/dados/2026-11/"), tmp_path, client, settings=FAST)

        assert other_origin.requests == []

    assert [path.name for path in paths] == ["Cnaes.zip", "Empresas0.zip", "Imunes e Isentas.zip"]
    assert (tmp_path / "Imunes e Isentas.zip").read_bytes() == IMUNES_ZIP
    assert len(server.requests_for("GET", "/dados/2026-11/Cnaes.zip")) == 1
    assert server.requests_for("GET", "/dados/2026-11/LEIAME.txt") == []


async def test_webdav_listing(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    folder = "/public.php/dav/files/token/2026-11/"
    serve_multistatus(
        server,
        folder,
        multistatus(
            (folder, True, None),
            (f"{folder}Cnaes.zip", False, len(CNAES_ZIP)),
            (f"{folder}Empresas0.zip", False, len(EMPRESAS_ZIP)),
            (f"{folder}Imunes%20e%20Isentas.zip", False, len(IMUNES_ZIP)),
            (f"{folder}extra/", True, None),
        ),
    )
    server.serve_bytes(f"{folder}Cnaes.zip", CNAES_ZIP)
    server.serve_bytes(f"{folder}Empresas0.zip", EMPRESAS_ZIP)
    server.serve_bytes(f"{folder}Imunes e Isentas.zip", IMUNES_ZIP)

    paths = await download_dump(server.url(folder), tmp_path, client, settings=FAST)

    assert [path.name for path in paths] == ["Cnaes.zip", "Empresas0.zip", "Imunes e Isentas.zip"]
    assert paths[1].read_bytes() == EMPRESAS_ZIP
    propfinds = server.requests_for("PROPFIND", folder)
    assert len(propfinds) == 1
    assert propfinds[0].headers["Depth"] == "1"
    # The listing gives each size, so no HEAD request is needed.
    assert [request for request in server.requests if request.method == "HEAD"] == []
    assert server.requests_for("GET", folder) == []


async def test_webdav_listing_entries(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    folder = "/dav/2026-11/"
    serve_multistatus(
        server,
        folder,
        multistatus(
            (folder, True, None),
            (f"{folder}Cnaes.zip", False, 1234),
            (f"{folder}extra/", True, None),
        ),
    )

    entries = await list_folder(server.url(folder), client, settings=FAST)

    assert [(entry.name, entry.is_folder, entry.size) for entry in entries] == [
        ("Cnaes.zip", False, 1234),
        ("extra", True, None),
    ]
    assert entries[0].url == server.url(f"{folder}Cnaes.zip")


async def test_latest_month_html(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    async def redirect(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently("/dados/")

    server.route("GET", "/dados", redirect)
    server.serve_text(
        "/dados/",
        html_listing(
            "../", "2026-10/", "2026-11/", "2026-09/", "regime_tributario/", "2026-13/", "2025-12/"
        ),
    )

    latest = await resolve_latest(server.url("/dados"), client, settings=FAST)

    assert latest == server.url("/dados/2026-11/")


async def test_latest_month_webdav(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    base = "/public.php/dav/files/token/"
    serve_multistatus(
        server,
        base,
        multistatus(
            (base, True, None),
            (f"{base}2026-09/", True, None),
            (f"{base}2026-11/", True, None),
            (f"{base}2026-10/", True, None),
            (f"{base}LEIAME.txt", False, 10),
        ),
    )

    latest = await resolve_latest(server.url(base), client, settings=FAST)

    assert latest == server.url(f"{base}2026-11/")


async def test_latest_month_then_download(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    server.serve_text("/dados/", html_listing("2026-09/", "2026-10/", "2026-11/"))
    server.serve_text("/dados/2026-11/", html_listing("Cnaes.zip"))
    server.serve_bytes("/dados/2026-11/Cnaes.zip", CNAES_ZIP)

    latest = await resolve_latest(server.url("/dados/"), client, settings=FAST)
    paths = await download_dump(latest, tmp_path, client, settings=FAST)

    assert paths == [tmp_path / "Cnaes.zip"]


async def test_no_month_folder_raises(server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    server.serve_text("/dados/", html_listing("regime_tributario/", "LEIAME.txt"))

    with pytest.raises(DumpDownloadError, match="No YYYY-MM folder"):
        await resolve_latest(server.url("/dados/"), client, settings=FAST)


async def test_resume_after_truncated_response(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    cut = 100_000
    gets = 0

    async def flaky(request: web.Request) -> web.StreamResponse:
        nonlocal gets
        if request.method == "GET":
            gets += 1
            if gets == 1:
                return await respond_truncated(request, LARGE_ZIP, cut)
        return respond_with_range(request, LARGE_ZIP)

    server.route("GET", "/Estabelecimentos1.zip", flaky)

    paths = await download_dump(
        server.url("/Estabelecimentos1.zip"), tmp_path, client, settings=FAST
    )

    assert paths[0].read_bytes() == LARGE_ZIP
    requests = server.requests_for("GET", "/Estabelecimentos1.zip")
    assert len(requests) == 2
    assert "Range" not in requests[0].headers
    assert requests[1].headers["Range"] == f"bytes={cut}-"


async def test_restart_when_range_ignored(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    gets = 0

    async def flaky(request: web.Request) -> web.StreamResponse:
        nonlocal gets
        if request.method == "GET":
            gets += 1
            if gets == 1:
                return await respond_truncated(request, LARGE_ZIP, 50_000)
        return respond_with_range(request, LARGE_ZIP, honour_range=False)

    server.route("GET", "/Estabelecimentos1.zip", flaky)

    paths = await download_dump(
        server.url("/Estabelecimentos1.zip"), tmp_path, client, settings=FAST
    )

    assert paths[0].read_bytes() == LARGE_ZIP
    requests = server.requests_for("GET", "/Estabelecimentos1.zip")
    assert len(requests) == 2
    assert requests[1].headers["Range"] == "bytes=50000-"


async def test_part_file_resumed(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    server.serve_bytes("/Estabelecimentos1.zip", LARGE_ZIP)
    (tmp_path / "Estabelecimentos1.zip.part").write_bytes(LARGE_ZIP[:123_456])

    paths = await download_dump(
        server.url("/Estabelecimentos1.zip"), tmp_path, client, settings=FAST
    )

    assert paths[0].read_bytes() == LARGE_ZIP
    requests = server.requests_for("GET", "/Estabelecimentos1.zip")
    assert [request.headers.get("Range") for request in requests] == ["bytes=123456-"]


async def test_complete_part_file_needs_no_get(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    server.serve_bytes("/Cnaes.zip", CNAES_ZIP)
    (tmp_path / "Cnaes.zip.part").write_bytes(CNAES_ZIP)

    paths = await download_dump(server.url("/Cnaes.zip"), tmp_path, client, settings=FAST)

    assert paths[0].read_bytes() == CNAES_ZIP
    assert server.requests_for("GET", "/Cnaes.zip") == []


async def test_corrupt_zip_names_file(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    server.serve_bytes("/dados/Cnaes.zip", corrupt_member_data(CNAES_ZIP))

    with pytest.raises(CorruptZipError) as caught:
        await download_dump(server.url("/dados/Cnaes.zip"), tmp_path, client, settings=FAST)

    message = str(caught.value)
    assert "Cnaes.zip" in message
    assert server.url("/dados/Cnaes.zip") in message
    assert caught.value.path == tmp_path / "Cnaes.zip"
    assert file_names(tmp_path) == []


async def test_truncated_zip_names_file(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    # The server sends a consistent Content-Length for a file that was cut
    # before upload, so only the zip check can notice.
    server.serve_bytes("/Empresas0.zip", EMPRESAS_ZIP[: len(EMPRESAS_ZIP) // 2])

    with pytest.raises(CorruptZipError, match="Empresas0.zip"):
        await download_dump(server.url("/Empresas0.zip"), tmp_path, client, settings=FAST)

    assert file_names(tmp_path) == []


async def test_complete_file_skipped(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    server.serve_text("/dados/2026-11/", html_listing("Cnaes.zip", "Empresas0.zip"))
    server.serve_bytes("/dados/2026-11/Cnaes.zip", CNAES_ZIP)
    server.serve_bytes("/dados/2026-11/Empresas0.zip", EMPRESAS_ZIP)
    reports: list[tuple[str, int, int | None]] = []

    first = await download_dump(server.url("/dados/2026-11/"), tmp_path, client, settings=FAST)
    second = await download_dump(
        server.url("/dados/2026-11/"),
        tmp_path,
        client,
        progress=lambda name, done, total: reports.append((name, done, total)),
        settings=FAST,
    )

    assert first == second
    assert len(server.requests_for("GET", "/dados/2026-11/Cnaes.zip")) == 1
    assert len(server.requests_for("GET", "/dados/2026-11/Empresas0.zip")) == 1
    assert len(server.requests_for("HEAD", "/dados/2026-11/Cnaes.zip")) == 2
    assert ("Cnaes.zip", len(CNAES_ZIP), len(CNAES_ZIP)) in reports


async def test_webdav_complete_file_skipped(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    folder = "/dav/2026-11/"
    serve_multistatus(
        server,
        folder,
        multistatus((folder, True, None), (f"{folder}Cnaes.zip", False, len(CNAES_ZIP))),
    )
    server.serve_bytes(f"{folder}Cnaes.zip", CNAES_ZIP)

    await download_dump(server.url(folder), tmp_path, client, settings=FAST)
    await download_dump(server.url(folder), tmp_path, client, settings=FAST)

    assert len(server.requests_for("GET", f"{folder}Cnaes.zip")) == 1
    assert server.requests_for("HEAD", f"{folder}Cnaes.zip") == []


async def test_size_mismatch_downloads_again(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    server.serve_bytes("/Cnaes.zip", CNAES_ZIP)
    (tmp_path / "Cnaes.zip").write_bytes(b"older delivery")

    paths = await download_dump(server.url("/Cnaes.zip"), tmp_path, client, settings=FAST)

    assert paths[0].read_bytes() == CNAES_ZIP
    assert len(server.requests_for("GET", "/Cnaes.zip")) == 1


async def test_5xx_retried(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    gets = 0

    async def unstable(request: web.Request) -> web.StreamResponse:
        nonlocal gets
        if request.method == "GET":
            gets += 1
            if gets <= 2:
                return web.Response(status=503, text="busy")
        return respond_with_range(request, CNAES_ZIP)

    server.route("GET", "/Cnaes.zip", unstable)

    paths = await download_dump(server.url("/Cnaes.zip"), tmp_path, client, settings=FAST)

    assert paths[0].read_bytes() == CNAES_ZIP
    assert len(server.requests_for("GET", "/Cnaes.zip")) == 3


async def test_retries_are_bounded(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        if request.method == "HEAD":
            return respond_with_range(request, CNAES_ZIP)
        return web.Response(status=500, text="error")

    server.route("GET", "/Cnaes.zip", broken)

    with pytest.raises(DumpDownloadError, match="failed 3 times") as caught:
        await download_dump(server.url("/Cnaes.zip"), tmp_path, client, settings=FAST)

    assert "HTTP 500" in str(caught.value)
    assert len(server.requests_for("GET", "/Cnaes.zip")) == FAST.max_attempts


async def test_404_not_retried(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(DumpDownloadError, match="HTTP 404"):
        await download_dump(server.url("/Ausente.zip"), tmp_path, client, settings=FAST)

    assert len(server.requests_for("GET", "/Ausente.zip")) == 1


async def test_timeout_is_configurable(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            await asyncio.sleep(0.5)
        return respond_with_range(request, CNAES_ZIP)

    server.route("GET", "/Cnaes.zip", slow)
    settings = DownloadSettings(
        timeout=httpx.Timeout(0.1), max_attempts=2, backoff_initial=0.01, backoff_max=0.01
    )

    with pytest.raises(DumpDownloadError, match="ReadTimeout: timed out"):
        await download_dump(server.url("/Cnaes.zip"), tmp_path, client, settings=settings)

    # On a loaded machine the server may log the second request after the
    # client has already given up on it.
    for _ in range(100):
        if len(server.requests_for("GET", "/Cnaes.zip")) >= 2:
            break
        await asyncio.sleep(0.02)
    assert len(server.requests_for("GET", "/Cnaes.zip")) == 2


async def test_listing_without_zips_raises(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    server.serve_text("/dados/2026-11/", html_listing("LEIAME.txt", "../"))

    with pytest.raises(DumpDownloadError, match="No .zip file is listed"):
        await download_dump(server.url("/dados/2026-11/"), tmp_path, client, settings=FAST)


async def test_missing_listing_raises(
    server: LocalHttpServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(DumpDownloadError, match="HTTP 404"):
        await download_dump(server.url("/nada/"), tmp_path, client, settings=FAST)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/Cnaes.zip", "dados/2026-11/", "http:///x.zip"])
async def test_non_http_url_rejected(url: str, client: httpx.AsyncClient, tmp_path: Path) -> None:
    with pytest.raises(DumpDownloadError, match="Unsupported URL"):
        await download_dump(url, tmp_path, client, settings=FAST)
