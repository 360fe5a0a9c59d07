"""docker-compose.yaml at the repository root: the proxy service and the optional Ollama one."""

from __future__ import annotations

import pathlib

import pytest
import yaml

COMPOSE = pathlib.Path(__file__).resolve().parents[2] / "docker-compose.yaml"


@pytest.fixture(scope="module")
def compose():
    assert COMPOSE.is_file(), "docker-compose.yaml missing at the repository root"
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "no services mapping"
    return data


def build_context(service):
    build = service.get("build")
    if isinstance(build, dict):
        return build.get("context")
    return build


def proxy_service(compose):
    found = [(name, s) for name, s in compose["services"].items() if build_context(s) in (".", "./")]
    assert len(found) == 1, f"expected one service built from '.', found {[n for n, _ in found]}"
    return found[0]


def port_strings(service):
    out = []
    for p in service.get("ports", []):
        if isinstance(p, dict):
            out.append(f"{p.get('published', '')}:{p.get('target', '')}")
        else:
            out.append(str(p))
    return out


def test_proxy_service(compose):
    name, svc = proxy_service(compose)
    ports = port_strings(svc)
    assert any("3101" in p for p in ports), f"{name}: ports {ports} do not include 3101"
    env_file = svc.get("env_file")
    entries = env_file if isinstance(env_file, list) else [env_file]
    paths = [e.get("path") if isinstance(e, dict) else e for e in entries]
    assert any(str(p) in (".env", "./.env") for p in paths), \
        f"{name}: env_file {env_file!r} does not name .env"
    assert svc.get("restart") == "unless-stopped", svc.get("restart")
    hc = svc.get("healthcheck")
    assert isinstance(hc, dict) and hc.get("test"), f"{name}: no healthcheck test"
    test = hc["test"]
    text = " ".join(test) if isinstance(test, list) else str(test)
    assert "health" in text, f"healthcheck does not probe health: {text}"


def test_ollama_service_is_optional_with_named_volume(compose):
    services = compose["services"]
    assert "ollama" in services, f"no ollama service: {list(services)}"
    ollama = services["ollama"]
    assert ollama.get("profiles") == ["ollama"], ollama.get("profiles")
    declared = compose.get("volumes") or {}
    assert isinstance(declared, dict) and declared, "no top-level named volumes"
    used = []
    for v in ollama.get("volumes", []):
        source = v.get("source") if isinstance(v, dict) else str(v).split(":", 1)[0]
        used.append(source)
    named = [s for s in used if s in declared]
    assert named, f"ollama volumes {used} use none of the declared named volumes {list(declared)}"


def test_proxy_does_not_require_ollama(compose):
    """The proxy must start without the optional profile: it may not hard-depend on ollama."""
    _, svc = proxy_service(compose)
    assert "profiles" not in svc, "the proxy service must run without --profile"
    depends = svc.get("depends_on") or {}
    names = list(depends) if isinstance(depends, (list, dict)) else []
    if "ollama" in names and isinstance(depends, dict):
        assert depends["ollama"].get("required") is False, "depends_on ollama must be required: false"
    else:
        assert "ollama" not in names, "depends_on ollama without required: false breaks the default profile"
