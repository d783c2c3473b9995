"""The dev stack's own logic: pid-file liveness, port conflicts, stopping process groups, config."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import processes, stack
from devstack.__main__ import main as devstack_main

ROOT = Path(__file__).resolve().parents[2]
# Extra argv makes the command line carry the sandbox marker ("-m sandbox") without being it.
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)", "-m", "sandbox"]


@pytest.fixture
def cfg(tmp_path: Path) -> stack.StackConfig:
    env = {"FARMLOKAL_RUN_DIR": str(tmp_path / "run")}
    for name in ("MARIADB", "REDIS", "SANDBOX", "EDGE", "EDGE_ADMIN"):
        env[f"FARMLOKAL_{name}_PORT"] = str(processes.free_port())
    for service in ("CATALOG", "WEBHOOK", "AUTH"):
        env[f"{service}_GRPC_PORT"] = str(processes.free_port())
        env[f"{service}_METRICS_PORT"] = str(processes.free_port())
    return stack.StackConfig.from_env(env)


@pytest.fixture
def sleeper(cfg: stack.StackConfig) -> Iterator[processes.ManagedProcess]:
    proc = processes.spawn("sandbox", SLEEPER, cfg.log_file("sandbox"))
    yield proc
    proc.stop(timeout=2)


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_pid_file_of_a_live_process_counts_as_running(cfg, sleeper) -> None:
    stack.write_pid(cfg, "sandbox", sleeper.pid)
    assert stack.running_pid(cfg, "sandbox") == sleeper.pid


def test_pid_file_of_a_dead_process_is_removed(cfg, sleeper) -> None:
    stack.write_pid(cfg, "sandbox", sleeper.pid)
    sleeper.stop(timeout=2)
    assert stack.running_pid(cfg, "sandbox") is None
    assert not cfg.pid_file("sandbox").exists()


def test_recycled_pid_of_another_program_is_not_ours(cfg, sleeper) -> None:
    stack.write_pid(cfg, "catalog", sleeper.pid)
    assert stack.running_pid(cfg, "catalog") is None


def test_garbage_pid_file_is_not_running(cfg) -> None:
    cfg.pid_file("redis").parent.mkdir(parents=True)
    cfg.pid_file("redis").write_text("not a pid\n")
    assert stack.running_pid(cfg, "redis") is None


def test_port_conflict_names_port_component_and_setting(tmp_path, listener) -> None:
    cfg = stack.StackConfig.from_env(
        {"FARMLOKAL_RUN_DIR": str(tmp_path), "CATALOG_METRICS_PORT": str(listener)}
    )
    [message] = stack.port_conflicts(cfg, ["catalog"], in_use=lambda port: port == listener)
    assert f"port {listener} (catalog metrics) is already in use" in message
    assert "CATALOG_METRICS_PORT" in message


def test_up_refuses_a_taken_port_before_starting_anything(tmp_path, listener, capsys) -> None:
    run_dir = tmp_path / "run"
    env = {"FARMLOKAL_RUN_DIR": str(run_dir), "FARMLOKAL_MARIADB_PORT": str(listener)}
    cfg = stack.StackConfig.from_env(env)
    with pytest.raises(stack.StackError, match=rf"port {listener} \(mariadb sql\) is already in use"):
        stack.up(cfg, env, say=print)
    assert not (run_dir / "pids").exists()
    assert not (run_dir / "mariadb").exists()


def test_stop_component_ends_the_whole_group_and_removes_the_pid_file(cfg) -> None:
    argv = ["sh", "-c", f"{sys.executable} -c 'import time; time.sleep(60)' & sleep 60; : -m sandbox"]
    proc = processes.spawn("sandbox", argv, cfg.log_file("sandbox"))
    stack.write_pid(cfg, "sandbox", proc.pid)
    assert _wait_for(lambda: len(stack.group_members(proc.pid)) >= 3)

    assert stack.stop_component(cfg, "sandbox") == f"stopped (pid {proc.pid})"
    proc.process.wait(timeout=5)
    assert stack.group_members(proc.pid) == []
    assert not cfg.pid_file("sandbox").exists()
    assert stack.stop_component(cfg, "sandbox") == "not running"


def test_a_process_ignoring_sigterm_is_killed(cfg) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    proc = processes.spawn("sandbox", [sys.executable, "-c", code], cfg.log_file("sandbox"))
    assert _wait_for(lambda: "ready" in cfg.log_file("sandbox").read_text())
    assert stack.stop_group(proc.pid, timeout=0.5) is True
    proc.process.wait(timeout=5)


def test_from_env_rejects_a_port_that_is_not_a_number(tmp_path) -> None:
    with pytest.raises(stack.StackError, match="FARMLOKAL_REDIS_PORT='abc'"):
        stack.StackConfig.from_env({"FARMLOKAL_REDIS_PORT": "abc"})


def test_dotenv_fills_gaps_but_the_shell_wins(tmp_path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nFARMLOKAL_REDIS_PORT=1111\nexport SEED_PRODUCTS='500'\n\nBROKEN LINE\n")
    env = {"FARMLOKAL_REDIS_PORT": "2222"}
    stack.load_dotenv(dotenv, env)
    assert env == {"FARMLOKAL_REDIS_PORT": "2222", "SEED_PRODUCTS": "500"}


def test_sandbox_urls_follow_the_sandbox_port(cfg) -> None:
    plans = stack.service_plans(cfg, {})
    extra = stack.stack_env(cfg, plans, {})
    assert extra["AUTH_TOKEN_URL"] == f"http://127.0.0.1:{cfg.port('sandbox')}/oauth/token"
    assert extra["WEBHOOK_CATALOG_ADDRESS"] == f"127.0.0.1:{cfg.port('catalog')}"
    assert plans["auth"].database_url.startswith(
        f"mysql+mysqldb://auth_svc:auth_dev_pw@127.0.0.1:{cfg.port('mariadb')}/"
    )


def test_status_and_logs_work_on_an_empty_run_dir(cfg, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FARMLOKAL_RUN_DIR", str(cfg.run_dir))
    monkeypatch.setenv("FARMLOKAL_SANDBOX_PORT", str(cfg.port("sandbox")))
    assert devstack_main(["status"]) == 0
    assert re.search(r"^sandbox\s+-\s+\d+\s+no\s+no$", capsys.readouterr().out, re.MULTILINE)
    assert devstack_main(["logs", "nope"]) == 1
    assert "no component 'nope'" in capsys.readouterr().err


def test_env_example_lists_every_setting() -> None:
    from auth_service.settings import AuthSettings
    from catalog_service.settings import CatalogSettings
    from farmlokal_edge.settings import EdgeSettings
    from sandbox.settings import SandboxSettings
    from webhook_service.settings import WebhookSettings

    listed = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    for settings in (CatalogSettings, WebhookSettings, AuthSettings, SandboxSettings, EdgeSettings):
        prefix = settings.model_config.get("env_prefix", "")
        missing = {f"{prefix}{name}".upper() for name in settings.model_fields} - listed
        assert not missing, f".env.example lacks {sorted(missing)}: run make env-example"


def _wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_envoy_outlives_the_process_that_started_it(cfg, tmp_path) -> None:
    """Envoy asks for SIGTERM when its parent dies; `make up` exits right after starting it."""
    listen, admin = (setting.port for setting in cfg.ports["envoy"])
    config = tmp_path / "envoy.json"
    hcm = {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
            ".HttpConnectionManager",
            "stat_prefix": "t",
            "route_config": {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": []}]},
            "http_filters": [
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                    },
                }
            ],
        },
    }
    listener = {
        "name": "l",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen}},
        "filter_chains": [{"filters": [hcm]}],
    }
    address = {"socket_address": {"address": "127.0.0.1", "port_value": admin}}
    config.write_text(
        json.dumps({"admin": {"address": address}, "static_resources": {"listeners": [listener]}})
    )
    starter = (
        "import os, sys; from pathlib import Path; from devstack import envoy_process, stack; "
        "cfg = stack.StackConfig.from_env(os.environ); "
        f"proc = envoy_process.start_envoy(Path(sys.argv[1]), {admin}, {listen}, cfg.log_file('envoy'), "
        "outlive_parent=True); stack.write_pid(cfg, 'envoy', proc.pid)"
    )
    env = {**os.environ, "FARMLOKAL_RUN_DIR": str(cfg.run_dir), "FARMLOKAL_EDGE_PORT": str(cfg.port("envoy"))}
    subprocess.run([sys.executable, "-c", starter, str(config)], env=env, check=True, cwd=ROOT)
    try:
        processes.wait_for_port(admin, 30, name="envoy admin")
        time.sleep(1.0)
        assert stack.running_pid(cfg, "envoy") is not None
        assert processes.port_in_use(admin)
    finally:
        assert stack.stop_component(cfg, "envoy").startswith("stopped")
    assert not processes.port_in_use(admin)


def test_every_url_to_the_sandbox_follows_the_sandbox_port(cfg, monkeypatch) -> None:
    """The services' and the edge's settings as `make up` gives them, with every port moved: none
    points at the default sandbox port (a second stack on the box would call the first's sandbox)."""
    from auth_service.settings import AuthSettings
    from catalog_service.settings import CatalogSettings
    from farmlokal_common.settings import DEV_SANDBOX_PORT
    from webhook_service.settings import WebhookSettings

    for name in list(os.environ):
        if name.startswith(("CATALOG_", "WEBHOOK_", "AUTH_", "EDGE_")):
            monkeypatch.delenv(name)
    plans = stack.service_plans(cfg, {})
    extra = stack.stack_env(cfg, plans, {})
    own = f"http://127.0.0.1:{cfg.port('sandbox')}"
    stale, resolved = [], {}
    for name, settings_class in (
        ("catalog", CatalogSettings),
        ("webhook", WebhookSettings),
        ("auth", AuthSettings),
    ):
        with monkeypatch.context() as env:
            for key, value in {**plans[name].env(), **extra}.items():
                env.setenv(key, value)
            settings = settings_class()
        for field, value in settings.model_dump().items():
            resolved[f"{name}.{field}"] = value
            if isinstance(value, str) and f":{DEV_SANDBOX_PORT}" in value:
                stale.append(f"{name}.{field}={value}")
    assert not stale
    assert resolved["catalog.supplier_base_url"] == own
    assert resolved["auth.token_url"] == f"{own}/oauth/token"
    assert stack.edge_config(cfg, plans, {}).jwks_uri == f"{own}/.well-known/jwks.json"


def test_a_stack_on_other_ports_talks_only_to_its_own_sandbox(tmp_path) -> None:
    """`make up` with every port moved: the sync and the token broker reach this stack's sandbox."""
    from tests.dev_stack import dev_stack

    settings = {"SANDBOX_SUPPLIER_PRODUCT_COUNT": "40", "FARMLOKAL_MARIADB_BUFFER_POOL": "128M"}
    with dev_stack(tmp_path / "stack", settings) as cfg, httpx.Client(trust_env=False, timeout=60) as http:
        sandbox = f"http://127.0.0.1:{cfg.port('sandbox')}"
        edge = f"http://127.0.0.1:{cfg.port('envoy')}"
        admin = http.post(
            f"{sandbox}/oauth/token",
            data={"grant_type": "client_credentials", "audience": "https://api.farmlokal.test"},
            auth=("farmlokal-admin", "dev-admin-secret"),
        ).json()["access_token"]
        sync = http.post(f"{edge}/v1/supplier/sync", json={}, headers={"authorization": f"Bearer {admin}"})
        assert sync.status_code == 200, sync.text
        assert sync.json()["fetched"] == 40
        assert http.get(f"{sandbox}/_sandbox/supplier/stats").json()["total"] >= 1
        issued = http.get(f"{sandbox}/_sandbox/oauth/counters").json()["token_requests"]["by_outcome"]
        assert issued["issued"] >= 2  # the admin token above and the broker's supplier token
        health = http.get(f"{edge}/health").json()["checks"]
        assert health["supplier_api"]["state"] == "ok" and health["oauth_provider"]["state"] == "ok"
