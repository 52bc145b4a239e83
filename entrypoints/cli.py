"""The ``garimpo`` command line: migrate, ingest, search, serve, and the demo that does it all."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import getpass
import json
import socket
import sys
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from adapters.postgres.database import migrate, raw_connection
from adapters.postgres.provisioning import (
    DEMO_PLAN_CODE,
    DEMO_PLAN_NAME,
    DEMO_TENANT_NAME,
    DemoCredentials,
)
from adapters.receita.municipalities import MunicipalityTableError
from adapters.receita.remote import DumpDownloadError
from adapters.security.passwords import Argon2Passwords
from application.ingestion import IngestionError, MonthAlreadyLive, summary_as_dict
from domain.audit import Actor, ActorType
from domain.errors import DomainError
from domain.ingestion import FileKind, RunSummary
from domain.search import PageRequest, PhoneRequirement, SearchCriteria
from entrypoints import maintenance
from entrypoints.container import Container, app_role_name, build_container, provide
from entrypoints.http.routes_registry import page_meta
from entrypoints.logging import configure_logging
from entrypoints.progress import progress_for_terminal
from entrypoints.settings import Settings, SettingsError, load_settings

log = structlog.get_logger("garimpo.cli")

#: Size of the month the demo generates when no source is given: big enough to
#: search, small enough to load in seconds.
DEMO_ESTABLISHMENTS = 20_000
DEMO_SEED = 7


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"data inválida '{text}': use AAAA-MM-DD") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="garimpo",
        description="Garimpo: leads B2B a partir do cadastro de CNPJs da Receita Federal.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("migrate", help="aplica as migrações do banco")

    ingest = commands.add_parser("ingest", help="carrega um mês da base do CNPJ e o publica")
    ingest.add_argument("source", help="pasta, endereço http(s) de um mês, ou 'latest'")
    ingest.add_argument(
        "--force",
        action="store_true",
        help="publica mesmo se o mês for bem menor que o publicado",
    )
    ingest.add_argument(
        "--fresh",
        action="store_true",
        help="recomeça do zero em vez de retomar uma carga interrompida desta origem",
    )
    ingest.add_argument("--json", action="store_true", help="mostra o resumo em JSON")

    search = commands.add_parser("search", help="busca pré-leads por CNAE, UF e município")
    search.add_argument(
        "--cnae", action="append", required=True, help="subclasse CNAE; pode repetir"
    )
    search.add_argument("--uf", help="UF (SP, RJ...; EX para o exterior)")
    search.add_argument(
        "--municipio", action="append", default=[], help="código IBGE do município; pode repetir"
    )
    search.add_argument(
        "--secondary", action="store_true", help="procura também nos CNAEs secundários"
    )
    search.add_argument(
        "--status", action="append", help="situação cadastral (padrão ATIVA); pode repetir"
    )
    search.add_argument("--has-phone", choices=[p.value for p in PhoneRequirement])
    search.add_argument("--has-email", action="store_true")
    search.add_argument(
        "--exclude-shared",
        action="store_true",
        help="ignora contatos compartilhados por muitos estabelecimentos (contador)",
    )
    search.add_argument("--head-office-only", action="store_true")
    search.add_argument("--size", action="append", help="porte: ME, EPP, DEMAIS; pode repetir")
    search.add_argument(
        "--simples", choices=["sim", "nao"], help="optante pelo Simples Nacional ou não"
    )
    search.add_argument("--mei", choices=["sim", "nao"], help="MEI ou não")
    search.add_argument("--opened-from", type=_date, help="aberto a partir de (AAAA-MM-DD)")
    search.add_argument("--opened-to", type=_date, help="aberto até (AAAA-MM-DD)")
    search.add_argument("--capital-min", type=Decimal, help="capital social mínimo, em reais")
    search.add_argument("--capital-max", type=Decimal, help="capital social máximo, em reais")
    search.add_argument("--page", type=int, default=1)
    search.add_argument("--per-page", type=int, default=20)
    search.add_argument("--json", action="store_true")

    company = commands.add_parser("company", help="mostra um estabelecimento pelo CNPJ")
    company.add_argument("cnpj")

    commands.add_parser(
        "worker", help="roda um worker de qualificação (envios, esperas e respostas)"
    )
    serve = commands.add_parser("serve", help="serve a API HTTP")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    generate = commands.add_parser(
        "generate-dump", help="gera um mês sintético no formato da Receita"
    )
    generate.add_argument("out", type=Path)
    generate.add_argument("--establishments", type=int, default=DEMO_ESTABLISHMENTS)
    generate.add_argument("--seed", type=int, default=DEMO_SEED)

    runs = commands.add_parser("runs", help="lista as últimas cargas e a situação de cada uma")
    runs.add_argument("--limit", type=int, default=10)

    commands.add_parser(
        "stop-embedded",
        help="para o PostgreSQL e o Redis embutidos, que continuam rodando entre os comandos",
    )

    quarantine = commands.add_parser(
        "quarantine", help="lista as linhas em quarentena da última carga"
    )
    quarantine.add_argument("--run", help="identificador da carga (padrão: a mais recente)")
    quarantine.add_argument("--limit", type=int, default=50)

    demo = commands.add_parser(
        "demo", help="migra, carrega um mês (sintético por padrão), mostra uma busca e serve a API"
    )
    demo.add_argument(
        "source", nargs="?", help="pasta, endereço ou 'latest'; sem isso, dados sintéticos"
    )
    demo.add_argument("--no-serve", action="store_true", help="para depois da busca de exemplo")
    demo.add_argument("--establishments", type=int, default=DEMO_ESTABLISHMENTS)
    demo.add_argument(
        "--force", action="store_true", help="publica mesmo se o mês for bem menor que o publicado"
    )
    demo.add_argument(
        "--fresh",
        action="store_true",
        help="recomeça do zero em vez de retomar uma carga interrompida",
    )

    commands.add_parser(
        "maintenance",
        help="roda uma rodada da manutenção (reservas e créditos vencidos, alertas de saldo, "
        "webhooks) e mostra quantos itens cada etapa tratou",
    )

    admin = commands.add_parser("admin", help="administração da instalação")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    host_admin = admin_commands.add_parser(
        "create-host-admin",
        help="cria um administrador do host, ou troca a senha de um que já existe",
        description="Cria um administrador do host ativo, ou troca a senha de um que já "
        "existe (encerrando as sessões dele). A senha nunca vai na linha de comando: ela é "
        "perguntada duas vezes no terminal, ou lida da entrada padrão com --password-stdin.",
        # Otherwise "--password SECRET" would be taken as --password-stdin.
        allow_abbrev=False,
    )
    host_admin.add_argument("--email", required=True, help="e-mail de login do administrador")
    host_admin.add_argument("--name", required=True, help="nome do administrador")
    host_admin.add_argument(
        "--password-stdin",
        action="store_true",
        help="lê a senha da primeira linha da entrada padrão em vez de perguntá-la",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"garimpo: configuração inválida: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)

    try:
        if args.command == "generate-dump":
            return _generate(args.out, args.establishments, args.seed)
        if args.command == "stop-embedded":
            return _stop_embedded(settings)
        if args.command == "serve":
            from entrypoints.http.server import serve

            _require_free_port(
                settings.http_host if args.host is None else args.host,
                settings.http_port if args.port is None else args.port,
            )
            return serve(settings, host=args.host, port=args.port)
        if args.command == "admin":
            # Asked before any work, so a typo costs no migration run.
            try:
                args.password = _read_new_password(from_stdin=args.password_stdin)
            except PasswordInputError as error:
                print(f"garimpo: {error}", file=sys.stderr)
                return 2
        return asyncio.run(_run(args, settings))
    except USER_ERRORS as error:
        message = error.detail if isinstance(error, DomainError) else str(error)
        print(f"garimpo: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "garimpo: interrompido; 'garimpo ingest' retoma do último bloco salvo.", file=sys.stderr
        )
        return 130


class PortInUse(Exception):
    """Raised when the API port is taken, before any work that would be wasted."""


#: Errors whose message is meant for the person at the terminal: printed
#: without a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    IngestionError,
    DomainError,
    SettingsError,
    DumpDownloadError,
    MunicipalityTableError,
    PortInUse,
    FileExistsError,
    NotADirectoryError,
    PermissionError,
)


def _stop_embedded(settings: Settings) -> int:
    from entrypoints.embedded import EmbeddedInUse, stop_embedded_postgres, stop_embedded_redis

    try:
        stopped = stop_embedded_postgres(settings.var_dir)
    except EmbeddedInUse as in_use:
        pids = ", ".join(str(pid) for pid in in_use.pids)
        print(
            f"garimpo: o PostgreSQL embutido ainda está em uso pelos processos {pids}. "
            "Pare a API (Ctrl+C no terminal dela) e rode este comando de novo."
        )
        return 1
    print("PostgreSQL embutido parado." if stopped else "O PostgreSQL embutido não estava rodando.")
    redis_stopped = stop_embedded_redis(settings.var_dir)
    print("Redis embutido parado." if redis_stopped else "O Redis embutido não estava rodando.")
    return 0


def _require_free_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise PortInUse(
                f"a porta {port} em {host} já está em uso (outra instância do Garimpo?). "
                "Pare-a ou defina HTTP_PORT."
            ) from None


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    container = build_container(settings)
    database_url = container.database_url()
    await asyncio.to_thread(migrate, database_url, app_role=app_role_name(settings))
    if args.command == "migrate":
        print("migrações aplicadas")
        return 0

    await container.init_resources()
    try:
        if args.command == "ingest":
            try:
                summary = await _ingest(container, args.source, force=args.force, fresh=args.fresh)
            except MonthAlreadyLive as already:
                print(f"garimpo: {already}")
                return 0
            _print_summary(summary, as_json=args.json)
            return 0
        if args.command == "search":
            return await _search(container, args)
        if args.command == "company":
            detail = await (await provide(container.get_company))(args.cnpj)
            print(json.dumps(detail, ensure_ascii=False, indent=2))
            return 0
        if args.command == "quarantine":
            return await _quarantine(container, args.run, args.limit)
        if args.command == "runs":
            return await _runs(container, args.limit)
        if args.command == "demo":
            return await _demo(container, settings, args)
        if args.command == "admin":
            return await _create_host_admin(container, args)
        if args.command == "maintenance":
            return await _maintenance(container)
        if args.command == "worker":
            from entrypoints.worker import run_worker

            return await run_worker(container)
        raise AssertionError(f"unhandled command {args.command}")
    finally:
        await container.shutdown_resources()


async def _maintenance(container: Container) -> int:
    """Run one maintenance round and print each step's count; return 1 when a step failed."""
    counts = await maintenance.run_round(container)
    if counts is None:
        print(
            "garimpo: outra rodada de manutenção está em andamento; tente de novo em instantes.",
            file=sys.stderr,
        )
        return 1
    for name, count in counts.items():
        print(f"{name}: {'falhou (veja o log)' if count < 0 else count}")
    return 1 if any(count < 0 for count in counts.values()) else 0


async def _ingest(container: Container, source: str, *, force: bool, fresh: bool) -> RunSummary:
    use_case = await provide(container.ingest_month)
    return await use_case(source, progress_for_terminal(), force=force, fresh=fresh)


#: Names of the file kinds as the Receita calls them, for the summary.
KIND_LABELS = {
    FileKind.ESTABLISHMENT: "Estabelecimentos",
    FileKind.COMPANY: "Empresas",
    FileKind.PARTNER: "Sócios",
    FileKind.SIMPLES: "Simples/MEI",
}


def _n(value: int) -> str:
    """Format a count the Brazilian way: 1.234.567."""
    return f"{value:,}".replace(",", ".")


def _print_summary(summary: RunSummary, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary_as_dict(summary), ensure_ascii=False, indent=2))
        return

    month = f"Mês {summary.reference}" if summary.reference else "Mês"
    resumed = " (execução retomada)" if summary.resumed else ""
    print(f"{month} publicado em {summary.seconds:.1f} s{resumed}. Execução {summary.run_id}.")
    print(f"{'arquivo':<60} {'lidas':>11} {'carregadas':>11} {'quarentena':>11} {'duplicadas':>11}")
    for counts in summary.files:
        print(
            f"{counts.name[-60:]:<60} {_n(counts.rows_read):>11} {_n(counts.rows_loaded):>11} "
            f"{_n(counts.rows_quarantined):>11} {_n(counts.rows_duplicate):>11}"
        )

    print("\nTotais por tipo de arquivo:")
    totals = summary.totals_by_kind()
    for kind, label in KIND_LABELS.items():
        if kind in totals:
            counts = totals[kind]
            print(
                f"  {label:<17} {_n(counts.rows_loaded):>11} carregadas, "
                f"{_n(counts.rows_quarantined)} em quarentena, {_n(counts.rows_duplicate)} duplicadas"
            )
    lookups = sum(c.rows_loaded for kind, c in totals.items() if kind.is_lookup)
    print(f"  {'tabelas de apoio':<17} {_n(lookups):>11} códigos (CNAE, municípios, países...)")
    nul_bytes = sum(c.nul_bytes_removed for c in summary.files)
    if nul_bytes:
        print(f"  {_n(nul_bytes)} bytes NUL removidos das linhas")
    if any(c.rows_quarantined for c in summary.files):
        print("  As linhas em quarentena podem ser vistas com 'garimpo quarantine'.")

    if summary.unmapped_municipalities:
        codes = ", ".join(summary.unmapped_municipalities[:20])
        more = len(summary.unmapped_municipalities) - 20
        print(
            f"Municípios sem código IBGE ({_n(len(summary.unmapped_municipalities))}): {codes}"
            f"{f' e mais {_n(more)}' if more > 0 else ''}. Os estabelecimentos deles não aparecem "
            "em buscas por município. Informe a tabela de municípios do Tesouro Nacional em "
            "MUNICIPALITY_TABLE_URL e carregue o mês de novo."
        )
    if summary.skipped_files:
        print(f"Arquivos ignorados (fora do leiaute do CNPJ): {', '.join(summary.skipped_files)}")


async def _search(container: Container, args: argparse.Namespace) -> int:
    criteria = SearchCriteria.create(
        cnaes=args.cnae,
        uf=args.uf,
        municipalities=args.municipio,
        registration_statuses=args.status,
        include_secondary=args.secondary,
        phone=PhoneRequirement(args.has_phone) if args.has_phone else None,
        has_email=True if args.has_email else None,
        exclude_shared_contacts=args.exclude_shared,
        head_office_only=args.head_office_only,
        company_sizes=args.size,
        simples=None if args.simples is None else args.simples == "sim",
        mei=None if args.mei is None else args.mei == "sim",
        opened_from=args.opened_from,
        opened_to=args.opened_to,
        share_capital_min=args.capital_min,
        share_capital_max=args.capital_max,
    )
    page = PageRequest.create(args.page, args.per_page, container.settings().max_per_page)
    result = await (await provide(container.search_preleads))(criteria, page)
    if args.json:
        print(
            json.dumps(
                {"meta": page_meta(result), "data": list(result.items)},
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        _print_results(result)
    return 0


def _print_results(result: Any) -> None:
    print(
        f"{_n(result.total_items)} estabelecimento(s); página {result.page} de {max(result.total_pages, 1)}"
    )
    for item in result.items:
        phones = ", ".join(p["number"] for p in item["phones"] if p["kind"] != "invalid") or "-"
        email = item["email"]["address"] if item["email"] and item["email"]["valid"] else "-"
        municipality = (
            item["address"]["municipality"]["name"] or item["address"]["municipality"]["tom_code"]
        )
        name = item["trade_name"] or item["legal_name"] or "(sem nome)"
        print(
            f"  {item['cnpj_formatted']}  {name[:40]:<40}  {municipality or '-'}/{item['address']['uf']}  "
            f"tel: {phones}  e-mail: {email}"
        )


async def _quarantine(container: Container, run_id: str | None, limit: int) -> int:
    if run_id is not None:
        try:
            run_id = str(uuid.UUID(run_id))
        except ValueError:
            raise IngestionError(
                f"identificador de execução inválido '{run_id}': use o UUID completo "
                "que o resumo da carga mostra"
            ) from None
    async with raw_connection(await provide(container.engine)) as conn:
        run = run_id or await conn.fetchval(
            "SELECT id::text FROM ingestion.run ORDER BY started_at DESC LIMIT 1"
        )
        if run is None:
            print("nenhuma execução de ingestão encontrada")
            return 0
        total = await conn.fetchval(
            "SELECT (SELECT count(*) FROM ingestion.quarantine WHERE run_id = r.id) "
            "FROM ingestion.run r WHERE r.id = $1::uuid",
            run,
        )
        if total is None:
            raise IngestionError(f"nenhuma execução com o identificador {run}; veja 'garimpo runs'")
        rows = await conn.fetch(
            """
            SELECT f.name, q.line, q.reason, q.detail, q.raw
            FROM ingestion.quarantine q
            JOIN ingestion.source_file f ON f.run_id = q.run_id AND f.id = q.file_id
            WHERE q.run_id = $1::uuid ORDER BY q.id LIMIT $2
            """,
            run,
            limit,
        )
    print(f"execução {run}: {_n(total)} linha(s) em quarentena, {_n(len(rows))} mostradas")
    for row in rows:
        print(f"  {row['name']}:{row['line']}  {row['reason']}  {row['detail'] or ''}")
        print(f"    {row['raw'][:200]}")
    return 0


#: Status of a run as the operator reads it.
RUN_STATUS = {
    "running": "em andamento ou interrompida",
    "failed": "falhou",
    "completed": "publicada",
    "abandoned": "substituída",
}


async def _runs(container: Container, limit: int) -> int:
    async with raw_connection(await provide(container.engine)) as conn:
        rows = await conn.fetch(
            """
            SELECT r.id, r.source, r.status, r.started_at, r.finished_at, r.error,
                   (SELECT count(*) FROM ingestion.quarantine q WHERE q.run_id = r.id) AS quarantined,
                   EXISTS (SELECT 1 FROM registry.snapshot s WHERE s.run_id = r.id) AS live
            FROM ingestion.run r ORDER BY r.started_at DESC LIMIT $1
            """,
            limit,
        )
    if not rows:
        print("nenhuma execução de ingestão encontrada")
        return 0
    for row in rows:
        live = " (no ar)" if row["live"] else ""
        started = row["started_at"].strftime("%d/%m/%Y %H:%M")
        print(f"{row['id']}  {started}  {RUN_STATUS.get(row['status'], row['status'])}{live}")
        print(f"    origem: {row['source']}  quarentena: {_n(row['quarantined'])}")
        if row["error"]:
            print(f"    erro: {row['error'][:300]}")
    return 0


async def _demo(container: Container, settings: Settings, args: argparse.Namespace) -> int:
    if not args.no_serve:
        # Fail before ingesting and issuing a key, not after.
        _require_free_port(settings.http_host, settings.http_port)
    source = args.source
    if source is None:
        target = settings.var_dir / "synthetic" / f"{args.establishments}-{DEMO_SEED}"
        if not target.exists():
            _generate(target, args.establishments, DEMO_SEED)
        print(
            f"ATENÇÃO: nenhuma fonte informada; carregando um mês SINTÉTICO de "
            f"{_n(args.establishments)} estabelecimentos gerado em {target}. "
            "Os CNPJs, nomes e contatos são fictícios."
        )
        source = str(target)

    try:
        summary = await _ingest(container, source, force=args.force, fresh=args.fresh)
        _print_summary(summary, as_json=False)
    except MonthAlreadyLive as already:
        print(f"{already}.")

    provisioning = await provide(container.provisioning)
    demo = await provisioning.prepare_demo(Argon2Passwords())
    api_key = demo.api_key
    _print_demo_credentials(demo)

    sample = await _print_sample_search(container) or ("4781400", "SP")
    if args.no_serve:
        return 0

    await container.shutdown_resources()
    from entrypoints.http.server import serve_async

    host, port = settings.http_host, settings.http_port
    print(f"\nAPI em http://{host}:{port}  (documento OpenAPI em /v1/openapi.json)")
    print(
        f"Exemplo: curl -s -H 'X-API-Key: {api_key}' -H 'Content-Type: application/json' "
        f'-d \'{{"cnaes": ["{sample[0]}"], "uf": "{sample[1]}"}}\' '
        f"http://{host}:{port}/v1/preleads/search"
    )
    for who, email, password in (
        ("administrador do tenant", demo.admin_email, demo.admin_password),
        ("administrador do host", demo.host_email, demo.host_password),
    ):
        print(
            f"Login do {who}: curl -s -H 'Content-Type: application/json' "
            f'-d \'{{"email": "{email}", "password": "{password}"}}\' '
            f"http://{host}:{port}/v1/auth/login"
        )
    await serve_async(settings, host=host, port=port)
    return 0


def _print_demo_credentials(demo: DemoCredentials) -> None:
    print(
        f"\n{DEMO_TENANT_NAME}: {demo.tenant_id} (plano {DEMO_PLAN_NAME}, código {DEMO_PLAN_CODE})"
        f"\n  Administrador do tenant: {demo.admin_email}  senha: {demo.admin_password}"
        f"\n  Chave de API do tenant, com todos os escopos: {demo.api_key}"
        f"\nAdministrador do host: {demo.host_email}  senha: {demo.host_password}"
        "\nAs senhas e a chave mudam a cada início e não serão mostradas de novo; "
        "as anteriores deixam de valer."
    )


async def _print_sample_search(container: Container) -> tuple[str, str] | None:
    """Search the most common CNAE of the most common municipality, so the demo finds something."""
    async with raw_connection(await provide(container.engine)) as conn:
        top = await conn.fetchrow(
            """
            SELECT cnae_primary, uf, ibge_code, count(*) AS n
            FROM registry.establishment
            WHERE registration_status = '02' AND cnae_primary IS NOT NULL
            GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3 LIMIT 1
            """
        )
    if top is None:
        print("\nNenhum estabelecimento ATIVO carregado; a busca de exemplo foi pulada.")
        return None
    municipalities = [top["ibge_code"]] if top["ibge_code"] else []
    criteria = SearchCriteria.create(
        cnaes=[top["cnae_primary"]], uf=top["uf"], municipalities=municipalities
    )
    page = PageRequest.create(1, 10, 200)
    result = await (await provide(container.search_preleads))(criteria, page)
    print(
        f"\nBusca de exemplo: CNAE {top['cnae_primary']}, UF {top['uf']}"
        f"{', município ' + top['ibge_code'] if top['ibge_code'] else ''}"
    )
    _print_results(result)
    return top["cnae_primary"], top["uf"]


def _generate(out: Path, establishments: int, seed: int) -> int:
    from adapters.receita.synthetic import generate_month

    if establishments < 1:
        raise IngestionError(f"--establishments deve ser 1 ou mais, não {establishments}")
    if out.exists() and any(out.iterdir()):
        raise IngestionError(
            f"a pasta {out} já existe e não está vazia; escolha uma pasta nova para o mês sintético"
        )

    month = generate_month(out, establishments, seed=seed)
    print(
        f"mês sintético {month.reference} gerado em {out}: {_n(month.companies)} empresas, "
        f"{_n(month.establishments)} estabelecimentos, {_n(month.partners)} sócios, "
        f"{_n(month.simples)} linhas do Simples"
    )
    return 0


class PasswordInputError(Exception):
    """Raised when the new password cannot be read or its two entries differ."""


def _read_new_password(*, from_stdin: bool) -> str:
    """Read a password from the first line of stdin, or ask for it twice without echo."""
    if from_stdin:
        # Only the line break is removed: spaces inside or around a password count.
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise PasswordInputError(
                "nenhuma senha na entrada padrão; --password-stdin lê a senha da primeira linha"
            )
        return password

    try:
        password = getpass.getpass("Senha do administrador: ")
        again = getpass.getpass("Repita a senha: ")
    except EOFError:
        raise PasswordInputError(
            "a senha não foi digitada; sem terminal, use --password-stdin"
        ) from None
    if password != again:
        raise PasswordInputError("as duas senhas digitadas são diferentes; nada foi alterado")
    if not password:
        raise PasswordInputError("a senha não pode ficar vazia")
    return password


async def _create_host_admin(container: Container, args: argparse.Namespace) -> int:
    admins = await provide(container.host_admins)
    actor = Actor(type=ActorType.SYSTEM, label="garimpo admin create-host-admin")
    account, created = await admins.create_or_reset(
        actor, email=args.email, name=args.name, password=args.password
    )
    if created:
        print(f"Administrador do host criado: {account['email']} (id {account['id']}).")
    else:
        print(
            f"Senha do administrador do host {account['email']} trocada; as sessões abertas "
            "dele foram encerradas."
        )
    print("Entre com o e-mail e a senha em POST /v1/auth/login.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
