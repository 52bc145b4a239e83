"""The n8n workflow templates in docs/n8n, imported into a real n8n and run against the real API.

n8n comes from the npm registry, installed once into a cache folder outside
the repository (``~/.cache/garimpo/n8n/<version>``, or ``GARIMPO_N8N_CACHE``),
so only the first run pays for the install, which takes minutes. Each module
run starts one n8n on 127.0.0.1 with a temporary user folder and everything
that calls n8n's own services switched off.

Garimpo runs in each test on a loopback port that the module reserves, over
the test database. n8n reads that address from ``GARIMPO_API_URL``. It reads
the tenant's API key from the Header Auth credential "Garimpo API", which
each test replaces with a key of its own tenant.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from domain.audit import Actor, ActorType
from entrypoints.container import Container, build_container, provide
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.companies import store_companies, valid_cnpj
from tests.support.credits import account_row
from tests.support.http_server import Handler
from tests.support.identity import create_api_key, create_tenant

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = REPO_ROOT / "docs" / "n8n"
INITIAL_MESSAGE = TEMPLATES / "garimpo-mensagem-inicial.json"
FALLBACK_CHAIN = TEMPLATES / "garimpo-cadeia-de-fallback.json"
REPLY_WEBHOOK = TEMPLATES / "garimpo-webhook-de-resposta.json"

#: The last 1.x release whose dependencies build on Node.js 20. From 1.123.66
#: on, n8n depends on isolated-vm 6, which needs Node.js 22.
N8N_VERSION = "1.123.50"
#: The oldest Node.js that n8n 1.123 declares in its package.json engines.
MIN_NODE = (20, 19)
#: n8n-nodes-base pins xlsx to a tarball on the SheetJS CDN, which is not the
#: npm registry. The registry's last xlsx release replaces it, because only
#: the spreadsheet nodes use it and no template does.
XLSX_FROM_REGISTRY = "0.18.5"
#: The credentials the templates reference, by the ids in their JSON.
API_CREDENTIAL = {"id": "GarimpoApiKey001", "name": "Garimpo API"}
WEBHOOK_CREDENTIAL = {"id": "GarimpoWebhook01", "name": "Garimpo: webhook de resposta"}
WEBHOOK_HEADER = "X-Garimpo-Webhook-Token"
WEBHOOK_PATH = "garimpo-resposta"
#: The node types the templates may use: n8n's core nodes, nothing from the community.
CORE_NODES = {
    "n8n-nodes-base.manualTrigger",
    "n8n-nodes-base.scheduleTrigger",
    "n8n-nodes-base.webhook",
    "n8n-nodes-base.httpRequest",
    "n8n-nodes-base.splitOut",
    "n8n-nodes-base.if",
    "n8n-nodes-base.set",
    "n8n-nodes-base.respondToWebhook",
}
HOST = Actor(type=ActorType.SYSTEM, label="teste n8n")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _version_tuple(text: str) -> tuple[int, ...]:
    """Parse ``v20.20.2`` into (20, 20, 2); anything else gives ()."""
    try:
        return tuple(int(part) for part in text.strip().lstrip("v").split("."))
    except ValueError:
        return ()


def _cache_root() -> Path:
    configured = os.environ.get("GARIMPO_N8N_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "garimpo" / "n8n"


def _node_headers(node: str) -> Path | None:
    """Return the prefix whose include/node contains the running Node.js's headers, if any.

    Without them node-gyp downloads the headers from nodejs.org to build
    sqlite3, and only the npm registry is reachable from CI.
    """
    prefix = Path(node).resolve().parents[1]
    return prefix if (prefix / "include" / "node" / "node_version.h").is_file() else None


def install_n8n() -> Path:
    """Return the n8n executable of N8N_VERSION, installing it into the cache the first time.

    Skips the module when Node.js or npm is missing or the install fails, never
    when n8n is already installed.
    """
    folder = _cache_root() / N8N_VERSION
    executable = folder / "node_modules" / ".bin" / "n8n"
    if executable.exists():
        return executable

    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(
            f"n8n {N8N_VERSION} is not installed in {folder}, and Node.js or npm is missing"
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    if _version_tuple(version.stdout) < MIN_NODE:
        pytest.skip(
            f"n8n {N8N_VERSION} needs Node.js 20.19 or later; this machine has {version.stdout.strip()}"
        )

    staging = folder.with_name(f"{N8N_VERSION}.partial-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    package = {
        "private": True,
        "dependencies": {"n8n": N8N_VERSION},
        "overrides": {"xlsx": XLSX_FROM_REGISTRY},
    }
    (staging / "package.json").write_text(json.dumps(package), encoding="utf-8")
    env = {**os.environ, "npm_config_update_notifier": "false"}
    headers = _node_headers(node)
    if headers is not None:
        env["npm_config_nodedir"] = str(headers)

    try:
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=staging,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=True,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as failed:
        shutil.rmtree(staging, ignore_errors=True)
        output = str(failed.stderr or "")[-1500:]
        pytest.skip(f"installing n8n {N8N_VERSION} from the npm registry failed: {output}")

    # The rename makes the install visible whole, so a broken one is never reused.
    try:
        staging.rename(folder)
    except OSError:
        # Another run finished the same install first.
        shutil.rmtree(staging, ignore_errors=True)
    return executable


def n8n_environment(home: Path, port: int, garimpo_url: str) -> dict[str, str]:
    """Build the environment of every n8n process: loopback only, nothing that calls n8n's services."""
    quiet = {
        "N8N_DIAGNOSTICS_ENABLED": "false",
        "N8N_DIAGNOSTICS_CONFIG_FRONTEND": "",
        "N8N_DIAGNOSTICS_CONFIG_BACKEND": "",
        "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
        "N8N_VERSION_NOTIFICATIONS_WHATS_NEW_ENABLED": "false",
        "N8N_TEMPLATES_ENABLED": "false",
        "N8N_PERSONALIZATION_ENABLED": "false",
        "N8N_HIRING_BANNER_ENABLED": "false",
        "N8N_DYNAMIC_BANNERS_ENABLED": "false",
        "N8N_COMMUNITY_PACKAGES_ENABLED": "false",
        "N8N_LICENSE_AUTO_RENEW_ENABLED": "false",
        "N8N_AI_ENABLED": "false",
        "EXTERNAL_FRONTEND_HOOKS_URLS": "",
        "N8N_FRONTEND_SENTRY_DSN": "",
        "N8N_SENTRY_DSN": "",
    }
    # The defaults of these point at n8n's hosts; loopback's discard port
    # catches anything that calls them despite the switches above.
    unreachable = "http://127.0.0.1:9/"
    for name in (
        "N8N_DIAGNOSTICS_POSTHOG_API_HOST",
        "N8N_TEMPLATES_HOST",
        "N8N_VERSION_NOTIFICATIONS_ENDPOINT",
        "N8N_VERSION_NOTIFICATIONS_WHATS_NEW_ENDPOINT",
        "N8N_DYNAMIC_BANNERS_ENDPOINT",
        "N8N_LICENSE_SERVER_URL",
        "N8N_AI_ASSISTANT_BASE_URL",
        "N8N_COMMUNITY_PACKAGES_REGISTRY",
    ):
        quiet[name] = unreachable

    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "N8N_USER_FOLDER": str(home),
        "N8N_ENCRYPTION_KEY": "garimpo-n8n-test-encryption-key",
        "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
        "N8N_LISTEN_ADDRESS": "127.0.0.1",
        "N8N_HOST": "127.0.0.1",
        "N8N_PORT": str(port),
        "N8N_PROTOCOL": "http",
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/",
        "N8N_SECURE_COOKIE": "false",
        # The templates read GARIMPO_API_URL through $env, which n8n 1.x allows by default.
        "N8N_BLOCK_ENV_ACCESS_IN_NODE": "false",
        "NO_PROXY": "127.0.0.1,localhost",
        "GARIMPO_API_URL": garimpo_url,
        **quiet,
    }


@attrs.frozen
class N8n:
    """One n8n user folder with a server started on it; CLI commands act on the same database."""

    executable: Path
    home: Path
    port: int
    env: dict[str, str]
    #: The value of WEBHOOK_HEADER that the reply webhook accepts.
    webhook_secret: str
    #: Workflow ids by workflow name, as the import gave them.
    workflow_ids: dict[str, str] = attrs.field(factory=dict)

    def run(self, *args: str) -> str:
        """Run an n8n CLI command to completion and return its standard output."""
        completed = subprocess.run(
            [str(self.executable), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert completed.returncode == 0, f"n8n {args[0]} failed: {completed.stderr[-3000:]}"
        return completed.stdout

    async def run_async(self, *args: str, check: bool = True) -> str:
        """Run an n8n CLI command without blocking the event loop that serves Garimpo.

        With ``check=False`` a non-zero exit status is not an error: ``n8n
        execute`` exits with 1 when the workflow fails.
        """
        process = await asyncio.create_subprocess_exec(
            str(self.executable),
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=180)
        if check:
            assert process.returncode == 0, f"n8n {args[0]} failed: {stderr.decode()[-3000:]}"
        return stdout.decode()

    def import_workflow(self, path: Path) -> None:
        self.run("import:workflow", f"--input={path}")

    async def use_api_key(self, key: str) -> None:
        """Store ``key`` in the "Garimpo API" credential, as a user pastes it into n8n."""
        await self.run_async("import:credentials", f"--input={self._credential_file(key)}")

    def _credential_file(self, key: str) -> Path:
        credential = {
            **API_CREDENTIAL,
            "type": "httpHeaderAuth",
            "data": {"name": "Authorization", "value": f"Bearer {key}"},
        }
        path = self.home / f"credential-{uuid.uuid4().hex[:8]}.json"
        path.write_text(json.dumps([credential]), encoding="utf-8")
        return path

    async def execute(self, workflow_id: str, *, succeeds: bool = True) -> dict[str, Any]:
        """Run a workflow from its manual trigger and return the finished execution.

        Asserts that the execution's status is "success", or with
        ``succeeds=False`` that it is "error".
        """
        output = await self.run_async(
            "execute", f"--id={workflow_id}", "--rawOutput", check=succeeds
        )
        # The execution's JSON comes after the banner of a failed run, and more text may follow it.
        start = 0 if output.startswith("{") else output.index("\n{") + 1
        execution: dict[str, Any]
        execution, _end = json.JSONDecoder().raw_decode(output, start)
        error = execution["data"]["resultData"].get("error")
        expected = "success" if succeeds else "error"
        assert execution["status"] == expected, f"the workflow ended {execution['status']}: {error}"
        return execution

    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook/{WEBHOOK_PATH}"


def node_output(execution: dict[str, Any], node: str) -> list[dict[str, Any]]:
    """Return the JSON of every item that ``node`` produced on its first output."""
    runs = execution["data"]["resultData"]["runData"].get(node, [])
    items: list[dict[str, Any]] = []
    for run in runs:
        outputs = run["data"]["main"]
        items.extend(item["json"] for item in (outputs[0] or []))
    return items


def load_template(path: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return template


def _start_server(n8n: N8n, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    server = subprocess.Popen(
        [str(n8n.executable), "start"], env=n8n.env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    return server


def _wait_until_ready(server: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait until n8n has activated the reply webhook.

    n8n's /healthz responds before active workflows are registered, so the
    server's own log line is the signal that the webhook URL is live.
    """
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"n8n stopped on start: {log_path.read_text()[-3000:]}")
        if "Activated workflow" in log_path.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise AssertionError(f"n8n did not start within 120 s: {log_path.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def garimpo_port() -> int:
    """The loopback port each test's Garimpo listens on, known to n8n before it starts."""
    return _free_port()


@pytest.fixture(scope="module")
def n8n(garimpo_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[N8n]:
    """n8n with the three templates imported and the reply webhook active, served on loopback."""
    executable = install_n8n()
    home = tmp_path_factory.mktemp("n8n")
    port = _free_port()
    env = n8n_environment(home, port, f"http://127.0.0.1:{garimpo_port}")
    runner = N8n(executable, home, port, env, webhook_secret=uuid.uuid4().hex)

    credentials = [
        {
            **WEBHOOK_CREDENTIAL,
            "type": "httpHeaderAuth",
            "data": {"name": WEBHOOK_HEADER, "value": runner.webhook_secret},
        }
    ]
    (home / "webhook-credential.json").write_text(json.dumps(credentials), encoding="utf-8")
    runner.run("import:credentials", f"--input={home / 'webhook-credential.json'}")

    for template in (INITIAL_MESSAGE, FALLBACK_CHAIN, REPLY_WEBHOOK):
        runner.import_workflow(template)
    listed = runner.run("list:workflow")
    ids = dict(reversed(line.split("|", 1)) for line in listed.splitlines() if "|" in line)
    for template in (INITIAL_MESSAGE, FALLBACK_CHAIN, REPLY_WEBHOOK):
        assert load_template(template)["name"] in ids, listed
    runner.workflow_ids.update(ids)

    # Activation takes effect when the server starts, so it comes first.
    runner.run("update:workflow", f"--id={ids['Garimpo: webhook de resposta']}", "--active=true")
    log_path = home / "n8n.log"
    server = _start_server(runner, log_path)
    try:
        _wait_until_ready(server, log_path)
        yield runner
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


# --- Garimpo, per test -------------------------------------------------------------


@attrs.frozen
class Garimpo:
    """Garimpo's API on the reserved port, with a tenant that chose n8n and has credits."""

    base_url: str
    container: Container
    database_url: str
    tenant_id: str
    admin_key: str
    session: aiohttp.ClientSession
    #: Coroutines run after the due list is read and before it is returned.
    after_due: list[Callable[[], Awaitable[None]]] = attrs.field(factory=list)
    #: The key stored in n8n's "Garimpo API" credential, once it is made.
    n8n_key: str = ""

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method,
            self.base_url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.admin_key}"},
        ) as response:
            return response.status, await response.json(content_type=None)

    async def data(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = await self.call(method, path, body)
        assert status < 400, f"{method} {path} -> {status}: {answer}"
        return answer["data"]

    async def selection(self, count: int) -> tuple[str, list[str]]:
        """Store ``count`` companies with a mobile each and select them; return (id, mobiles)."""
        block = uuid.uuid4().int % 90_000_000 // 1000 * 1000 + 1_000_000
        cnpjs = [valid_cnpj(block + n) for n in range(count)]
        mobiles = [f"+55419876{block % 10000:04d}{n}" for n in range(count)]
        await store_companies(self.database_url, cnpjs, phones=[[m] for m in mobiles])
        selection = await self.data("POST", "/v1/preleads/selections", {"cnpjs": cnpjs})
        return selection["id"], mobiles

    async def flows(self, job_id: str) -> list[dict[str, Any]]:
        """The job's flows as the API shows them, read by id from the owner connection."""
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                "SELECT id FROM qualification_flow WHERE job_id = $1 ORDER BY id", uuid.UUID(job_id)
            )
        finally:
            await conn.close()
        return [await self.data("GET", f"/v1/qualification/flows/{row['id']}") for row in rows]

    async def sends(self, job_id: str) -> dict[str, int]:
        """Messages recorded for the job's flows, counted by channel."""
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                "SELECT s.channel, count(*) AS sent FROM message_send s "
                "JOIN qualification_flow f ON f.id = s.flow_id "
                "WHERE f.job_id = $1 AND s.state = 'sent' GROUP BY s.channel",
                uuid.UUID(job_id),
            )
        finally:
            await conn.close()
        return {row["channel"]: row["sent"] for row in rows}

    async def let_reply_wait_pass(self, job_id: str) -> None:
        """Move the end of every reply wait of the job to the past, as if the wait had gone by."""
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.execute(
                "UPDATE qualification_flow SET next_action_at = now() - interval '1 second' "
                "WHERE job_id = $1 AND state = 'awaiting_reply'",
                uuid.UUID(job_id),
            )
        finally:
            await conn.close()


@pytest.fixture
async def api(settings: Settings, garimpo_port: int, n8n: N8n) -> AsyncIterator[Garimpo]:
    """Garimpo on the reserved port, with a tenant whose n8n key is already stored in n8n."""
    database_url = settings.database_url
    assert database_url is not None
    container = build_container(settings)
    app = build_app(container)
    hooks: list[Callable[[], Awaitable[None]]] = []

    @web.middleware
    async def run_after_due(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path == "/v1/qualification/due":
            for hook in hooks:
                await hook()
        return response

    app.middlewares.append(run_after_due)
    server = TestServer(app, host="127.0.0.1", port=garimpo_port)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            yield await _tenant_for_n8n(server, container, database_url, session, hooks, n8n)
    finally:
        await server.close()


async def _tenant_for_n8n(
    server: TestServer,
    container: Container,
    database_url: str,
    session: aiohttp.ClientSession,
    hooks: list[Callable[[], Awaitable[None]]],
    n8n: N8n,
) -> Garimpo:
    """Make a tenant that chose n8n, with credits, and store a key of it in n8n."""
    tenant_id = await create_tenant(database_url, f"Integração n8n {uuid.uuid4().hex[:6]}")
    _key_id, admin_key = await create_api_key(database_url, tenant_id)
    api = Garimpo(
        str(server.make_url("")).rstrip("/"),
        container,
        database_url,
        tenant_id,
        admin_key,
        session,
        hooks,
    )
    await (await provide(container.credits)).grant(HOST, tenant_id, 20)
    # Sending at any hour keeps the tests independent of the clock.
    await api.data(
        "PATCH",
        "/v1/settings",
        {
            "quiet_hours": None,
            "qualification": {
                "orchestrator": "n8n",
                "reply_wait_minutes": 60,
                "sending_hours": {"start": "00:00", "end": "23:59"},
                "sending_weekdays": [1, 2, 3, 4, 5, 6, 7],
            },
        },
    )

    # The key n8n holds: only the two scopes the templates need, made as a tenant admin would.
    created = await api.data(
        "POST",
        "/v1/api-keys",
        {"name": "n8n", "scopes": ["preleads:read", "preleads:write"]},
    )
    await n8n.use_api_key(created["key"])
    return attrs.evolve(api, n8n_key=created["key"])


# --- the templates as files ---------------------------------------------------------


@pytest.mark.parametrize(
    "path", [INITIAL_MESSAGE, FALLBACK_CHAIN, REPLY_WEBHOOK], ids=lambda p: p.stem
)
def test_template_uses_core_nodes_and_no_secret(path: Path) -> None:
    template = load_template(path)
    text = path.read_text(encoding="utf-8")

    assert {node["type"] for node in template["nodes"]} <= CORE_NODES
    assert "gar_" not in text

    names = {node["name"] for node in template["nodes"]}
    for source, outputs in template["connections"].items():
        assert source in names
        for output in outputs["main"]:
            assert {target["node"] for target in output} <= names

    for node in template["nodes"]:
        if node["type"] != "n8n-nodes-base.httpRequest":
            continue
        assert node["credentials"]["httpHeaderAuth"] == API_CREDENTIAL, node["name"]
        assert node["parameters"]["genericAuthType"] == "httpHeaderAuth", node["name"]
        # A key typed into a header of the node would be saved in the workflow.
        assert "sendHeaders" not in node["parameters"], node["name"]


def test_templates_read_base_url_from_environment() -> None:
    for path in (INITIAL_MESSAGE, FALLBACK_CHAIN, REPLY_WEBHOOK):
        text = path.read_text(encoding="utf-8")
        assert "$env.GARIMPO_API_URL" in text, path.name
        assert "http://" not in text, path.name
        assert "https://" not in text, path.name


# --- the templates in n8n -------------------------------------------------------------


def _initial_message_for(n8n: N8n, selection_id: str) -> str:
    """Import the initial-message template with ``selection_id`` filled in; return its id."""
    template = load_template(INITIAL_MESSAGE)
    config = next(node for node in template["nodes"] if node["name"] == "Configuração")
    fields = config["parameters"]["assignments"]["assignments"]
    field = next(item for item in fields if item["name"] == "selection_id")
    field["value"] = selection_id

    # n8n keeps the id of an imported workflow, so the test can run it by that id.
    workflow_id = uuid.uuid4().hex[:16]
    template["id"] = workflow_id
    path = n8n.home / f"mensagem-inicial-{workflow_id}.json"
    path.write_text(json.dumps(template, ensure_ascii=False), encoding="utf-8")
    n8n.import_workflow(path)
    return workflow_id


@pytest.mark.n8n
async def test_initial_message_starts_job(api: Garimpo, n8n: N8n) -> None:
    selection_id, _mobiles = await api.selection(3)

    workflow_id = await asyncio.to_thread(_initial_message_for, n8n, selection_id)
    execution = await n8n.execute(workflow_id)

    [summary] = node_output(execution, "Resumo do job")
    assert summary["estado"] == "running"
    assert summary["orquestrador"] == "n8n"
    assert summary["progresso"]["total"] == 3

    job = await api.data("GET", f"/v1/jobs/{summary['job_id']}")
    assert job["selection_id"] == selection_id
    assert job["orchestrator"] == "n8n"
    assert job["progress"]["queued"] == 3

    _balance, held, _seq = await account_row(api.database_url, api.tenant_id)
    assert held == 3

    # With n8n as orchestrator no worker sends: the steps stay due until n8n advances them.
    due = await api.data("GET", "/v1/qualification/due?per_page=50")
    mine = [step for step in due if step["job_id"] == summary["job_id"]]
    assert sorted(step["action"] for step in mine) == ["send", "send", "send"]
    assert {step["channel"] for step in mine} == {"whatsapp"}


@pytest.mark.n8n
async def test_initial_message_fails_on_problem(api: Garimpo, n8n: N8n) -> None:
    missing_selection = str(uuid.uuid4())

    workflow_id = await asyncio.to_thread(_initial_message_for, n8n, missing_selection)
    execution = await n8n.execute(workflow_id, succeeds=False)

    result = execution["data"]["resultData"]
    assert result["lastNodeExecuted"] == "Iniciar qualificação"
    assert "Consultar andamento do job" not in result["runData"]
    # n8n shows the problem's pt-BR detail to the user who ran the workflow.
    assert result["error"]["description"] == "Seleção não encontrada."
    [message] = result["error"]["messages"]
    assert message.startswith("404 - ")
    assert '"code":"not_found"' in message
    # The execution data hides the Authorization header of the failed request.
    assert api.n8n_key not in json.dumps(execution)
    status, jobs = await api.call("GET", "/v1/jobs")
    assert status == 200
    assert jobs["data"] == []


@pytest.mark.n8n
async def test_fallback_chain_sends_then_moves_to_sms(api: Garimpo, n8n: N8n) -> None:
    selection_id, _mobiles = await api.selection(2)
    job = await api.data("POST", f"/v1/preleads/selections/{selection_id}/qualify")
    fallback = n8n.workflow_ids["Garimpo: cadeia de fallback"]

    first = await n8n.execute(fallback)

    advanced = node_output(first, "Etapa avançada")
    assert len(advanced) == 2
    assert {item["canal"] for item in advanced} == {"whatsapp"}
    assert {item["estado"] for item in advanced} == {"awaiting_reply"}
    assert await api.sends(job["id"]) == {"whatsapp": 2}
    progress = (await api.data("GET", f"/v1/jobs/{job['id']}"))["progress"]
    assert progress["sent"] == 2

    # The reply wait runs for an hour: a run now finds nothing due and sends nothing.
    idle = await n8n.execute(fallback)
    assert node_output(idle, "Etapa avançada") == []
    assert node_output(idle, "Etapa não avançada") == []
    assert await api.sends(job["id"]) == {"whatsapp": 2}

    await api.let_reply_wait_pass(job["id"])
    second = await n8n.execute(fallback)

    moved = node_output(second, "Etapa avançada")
    assert len(moved) == 2
    assert {item["canal"] for item in moved} == {"sms"}
    assert await api.sends(job["id"]) == {"whatsapp": 2, "sms": 2}
    flows = await api.flows(job["id"])
    assert {flow["channel"] for flow in flows} == {"sms"}
    assert [flow["remaining_channels"] for flow in flows] == [["email"], ["email"]]


@pytest.mark.n8n
async def test_fallback_chain_reports_step_not_due(api: Garimpo, n8n: N8n) -> None:
    selection_id, _mobiles = await api.selection(1)
    job = await api.data("POST", f"/v1/preleads/selections/{selection_id}/qualify")

    # The job is paused between n8n's read of the due list and its advance,
    # as when a user pauses it while a run is under way.
    async def pause_job() -> None:
        await api.data("POST", f"/v1/jobs/{job['id']}/pause")

    api.after_due.append(pause_job)
    execution = await n8n.execute(n8n.workflow_ids["Garimpo: cadeia de fallback"])

    assert node_output(execution, "Etapa avançada") == []
    [skipped] = node_output(execution, "Etapa não avançada")
    assert skipped["status"] == 409
    assert skipped["codigo"] == "not_due"
    assert skipped["detalhe"]
    assert await api.sends(job["id"]) == {}
    assert (await api.data("GET", f"/v1/jobs/{job['id']}"))["state"] == "paused"


@pytest.mark.n8n
async def test_reply_webhook_records_and_classifies(api: Garimpo, n8n: N8n) -> None:
    selection_id, mobiles = await api.selection(2)
    job = await api.data("POST", f"/v1/preleads/selections/{selection_id}/qualify")
    for flow in await api.flows(job["id"]):
        await api.data("POST", f"/v1/qualification/flows/{flow['id']}/advance")
    secret = n8n.webhook_secret

    async with aiohttp.ClientSession() as session:
        reply = {
            "channel": "whatsapp",
            "from": mobiles[0],
            "body": "Sim, tenho interesse!",
            "message_id": f"wamid.{uuid.uuid4().hex}",
        }
        async with session.post(
            n8n.webhook_url(), json=reply, headers={WEBHOOK_HEADER: secret}
        ) as response:
            status, answer = response.status, await response.json(content_type=None)

        # Providers may deliver the same message more than once.
        async with session.post(
            n8n.webhook_url(), json=reply, headers={WEBHOOK_HEADER: secret}
        ) as response:
            again_status, again = response.status, await response.json(content_type=None)

        async with session.post(
            n8n.webhook_url(),
            json={**reply, "from": mobiles[1], "body": "não tenho interesse"},
        ) as response:
            unsigned_status = response.status

        async with session.post(
            n8n.webhook_url(),
            json={**reply, "channel": "fax"},
            headers={WEBHOOK_HEADER: secret},
        ) as response:
            invalid_status, invalid = response.status, await response.json(content_type=None)

    assert status == 202, answer
    assert answer["data"]["matched"] is True
    assert answer["data"]["classification"]["outcome"] == "qualified"
    assert answer["data"]["outcome"] == "qualified"
    assert again_status == 202, again
    assert again["data"]["duplicate"] is True

    assert unsigned_status == 403
    assert (invalid_status, invalid["code"]) == (400, "invalid_field")

    progress = (await api.data("GET", f"/v1/jobs/{job['id']}"))["progress"]
    assert progress["replied"] == 1
    assert progress["classified"] == {"qualified": 1}
    leads = await api.data("GET", "/v1/leads")
    assert len(leads) == 1
    balance, held, _seq = await account_row(api.database_url, api.tenant_id)
    assert (balance, held) == (19, 1)
