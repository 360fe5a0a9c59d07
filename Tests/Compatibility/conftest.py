"""Fixtures for the real-client compatibility suite.

Runs the real binaries: `fake-upstream` (a scriptable OpenAI-compatible server) and
`hydracodedone` pointed at it, both on loopback ports, each proxy in its own empty temporary
working directory so that no stray `.env` is read.

BIN_DIR (set by `make compat`) is the SwiftPM bin directory; without it, `.build/debug` under the
repository root is used. Missing binaries are an error, never a skip.

Every body, SSE chunk and error the proxies send is validated against OpenAI's schemas
(openai_schema_check.py); a violation fails the test in which it was received, and the run ends
with a line "openai schema: N responses, M chunks, K errors validated".

Every test that reaches an upstream runs twice, once per upstream scheme (test ids `[http]` and
`[https]`): the fake upstream also serves TLS (`--tls-cert/--tls-key`), with a throwaway CA and
server certificate the `openssl` CLI makes once per session, and the https proxies reach it as
`https://localhost:<tls port>/v1` (a host name, so SNI and host-name verification are exercised)
trusting that CA through UPSTREAM_CA_FILE only: the system store is never touched. Tests that
never reach an upstream are marked `no_upstream` and run over http only.

The proxies' working directories (/tmp/hydra-compat-*) and the CA's (/tmp/hydra-compat-tls-*) are
removed at the end of the session; set HYDRA_COMPAT_KEEP_TMP=1 to keep them (and their logs) for a
look afterwards.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional

import httpx
import pytest

import openai_schema_check
from compat_helpers import CRITIQUE, CRITIQUE_PROMPT, PRIMARY, PROXY_KEY, UPSTREAM_KEY
from openai_schema_check import RECORDER, SchemaViolation

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

# The proxy gets a minimal environment: only these are inherited, so a developer's or CI's own
# settings (any variable the proxy reads, now or later) cannot change what the tests see.
INHERITED_VARIABLES = ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SWIFT_BACKTRACE", "LD_LIBRARY_PATH"]

START_TIMEOUT = 20.0

# All traffic here is loopback: never let an inherited HTTP proxy setting (honoured by httpx, the
# SDKs and libcurl) route it elsewhere.
for _var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
# LangChain must not try to send traces anywhere.
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ["LANGSMITH_TRACING"] = "false"


def bin_dir() -> pathlib.Path:
    configured = os.environ.get("BIN_DIR")
    return pathlib.Path(configured).resolve() if configured else REPO_ROOT / ".build" / "debug"


def binary(name: str) -> str:
    path = bin_dir() / name
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"{name} not found at {path}: build first (swift build) or set BIN_DIR", pytrace=False)
    return str(path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM, wait, then SIGKILL: only the process we started, by its pid."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def tail(path: pathlib.Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class TLSFiles:
    """A throwaway CA and a server certificate it signed (subjectAltName DNS:localhost and
    IP:127.0.0.1), made with the `openssl` CLI in a temporary directory of their own."""

    DAYS = "2"

    def __init__(self) -> None:
        exe = shutil.which("openssl")
        if not exe:
            pytest.fail("the openssl CLI is required to make the test CA for the https upstream "
                        "(Debian: apt-get install openssl)", pytrace=False)
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="hydra-compat-tls-"))
        _workdirs.append(self.dir)
        self.ca = self.dir / "ca.pem"
        self.ca_key = self.dir / "ca.key"
        self.cert = self.dir / "server.pem"
        self.key = self.dir / "server.key"
        csr = self.dir / "server.csr"
        extensions = self.dir / "server.ext"
        extensions.write_text("basicConstraints=critical,CA:FALSE\n"
                              "keyUsage=critical,digitalSignature,keyEncipherment\n"
                              "extendedKeyUsage=serverAuth\n"
                              "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self._run([exe, "req", "-x509", *ec, "-keyout", self.ca_key, "-out", self.ca, "-days", self.DAYS,
                   "-subj", "/CN=HydraCodeDone compat test CA",
                   "-addext", "basicConstraints=critical,CA:TRUE",
                   "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        self._run([exe, "req", "-new", *ec, "-keyout", self.key, "-out", csr, "-subj", "/CN=localhost"])
        self._run([exe, "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-set_serial", "2",
                   "-days", self.DAYS, "-extfile", extensions, "-out", self.cert])

    def _run(self, args: List[Any]) -> None:
        p = subprocess.run([str(a) for a in args], capture_output=True, cwd=self.dir, timeout=30)
        if p.returncode != 0:
            pytest.fail(f"{' '.join(map(str, args[:3]))} failed ({p.returncode}):\n"
                        f"{p.stderr.decode(errors='replace')}", pytrace=False)


class FakeUpstream:
    """The fake-upstream process plus helpers for its control routes.

    With `tls`, it also serves TLS on `tls_port` (a front relaying to the same fake: scripts set
    through the plain port apply to both, and requests over either are recorded together)."""

    def __init__(self, workdir: pathlib.Path, tls: Optional[TLSFiles] = None):
        self.log_path = workdir / "fake-upstream.log"
        self._log = open(self.log_path, "wb")
        args = [binary("fake-upstream"), "--host", "127.0.0.1", "--port", "0"]
        if tls is not None:
            args += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, cwd=workdir)
        expected = [b"listening on"] + ([b"tls listening on"] if tls is not None else [])
        lines: List[bytes] = []
        got_lines = threading.Event()

        def read_stdout() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:  # keep draining so the pipe never fills
                if not got_lines.is_set():
                    lines.append(line)
                    if len(lines) >= len(expected):
                        got_lines.set()
            got_lines.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        got_lines.wait(START_TIMEOUT)
        if len(lines) < len(expected) or not all(line.startswith(want) for line, want in zip(lines, expected)):
            stop_process(self.proc)
            pytest.fail(f"fake-upstream did not print {[e.decode() + ' HOST:PORT' for e in expected]}: "
                        f"{lines!r}\n{tail(self.log_path)}", pytrace=False)

        def address(line: bytes) -> tuple[str, int]:
            host, _, port = line.decode().split("listening on", 1)[1].strip().rpartition(":")
            return host or "127.0.0.1", int(port)

        self.host, self.port = address(lines[0])
        self.tls_port: Optional[int] = address(lines[1])[1] if tls is not None else None
        self.tls = tls
        self.url = f"http://{self.host}:{self.port}"
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def base_url(self, scheme: str) -> str:
        """The OpenAI base URL a proxy uses to reach this fake over `scheme`. https names the host
        `localhost` (the certificate's DNS name), so SNI and host-name checks take part."""
        if scheme == "http":
            return f"http://{self.host}:{self.port}/v1"
        assert scheme == "https" and self.tls_port is not None, scheme
        return f"https://localhost:{self.tls_port}/v1"

    # -- control routes -------------------------------------------------------------------
    def script(self, model: str, **script: Any) -> None:
        r = self.http.put(f"/__scripts/{model}", json=script)
        assert r.status_code in (200, 201, 204), f"PUT /__scripts/{model}: {r.status_code} {r.text}"

    def reset(self) -> None:
        for path in ("/__scripts", "/__requests"):
            r = self.http.delete(path)
            assert r.status_code in (200, 204), f"DELETE {path}: {r.status_code} {r.text}"

    def requests(self) -> List[Dict[str, Any]]:
        r = self.http.get("/__requests")
        assert r.status_code == 200, r.text
        return r.json()

    def requests_for(self, model: str) -> List[Dict[str, Any]]:
        return [q for q in self.requests() if q["body"].get("model") == model]

    def stats(self) -> Dict[str, int]:
        return self.http.get("/__stats").json()

    def close(self) -> None:
        self.http.close()
        stop_process(self.proc)
        self._log.close()


def proxy_environment(fake: FakeUpstream, scheme: str, port: int, extra_env: Optional[Dict[str, str]] = None,
                      trust_ca: bool = True) -> Dict[str, str]:
    """The whole environment of a proxy (or `hydracodedone check-config`) whose upstream is `fake`
    over `scheme`. https trusts the session's test CA through UPSTREAM_CA_FILE unless `trust_ca`
    is False (then only the system store, which does not know it)."""
    env = {k: os.environ[k] for k in INHERITED_VARIABLES if k in os.environ}
    env.update({
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "OPENAI_BASE_URL": fake.base_url(scheme),
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "PRIMARY_MODEL_NAME": PRIMARY,
        "CRITIQUE_MODEL_NAME": CRITIQUE,
        "CRITIQUE_SYSTEM_PROMPT": CRITIQUE_PROMPT,
        "HEARTBEAT_SECONDS": "1",
        "LOG_LEVEL": "DEBUG",
        "UPSTREAM_TIMEOUT_SECONDS": "30",
    })
    if scheme == "https" and trust_ca:
        assert fake.tls is not None
        env["UPSTREAM_CA_FILE"] = str(fake.tls.ca)
    env.update(extra_env or {})
    return env


class Proxy:
    """One hydracodedone process on a free loopback port, configured for the fake upstream over
    `scheme` (http, or https through the fake's TLS front)."""

    def __init__(self, name: str, fake: FakeUpstream, extra_env: Optional[Dict[str, str]] = None,
                 scheme: str = "http", trust_ca: bool = True):
        self.name = f"{name}-{scheme}"
        self.scheme = scheme
        name = self.name
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"hydra-compat-{name}-"))
        _workdirs.append(self.workdir)
        self.port = free_port()
        RECORDER.register_server(self.port, f"proxy {name}")
        self.url = f"http://127.0.0.1:{self.port}"
        self.v1 = self.url + "/v1"
        env = proxy_environment(fake, scheme, self.port, extra_env, trust_ca)
        self.env = env
        self.log_path = self.workdir / "hydracodedone.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary("hydracodedone")], env=env, cwd=self.workdir,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"hydracodedone ({name}) exited with {self.proc.returncode}:\n{tail(self.log_path)}",
                            pytrace=False)
            try:
                r = httpx.get(self.url + "/health", timeout=1)
                if r.status_code == 200:
                    return
                last = f"status {r.status_code}"
            except httpx.HTTPError as e:
                last = repr(e)
            time.sleep(0.05)
        stop_process(self.proc)
        pytest.fail(f"hydracodedone ({name}) not healthy after {START_TIMEOUT}s ({last}):\n{tail(self.log_path)}",
                    pytrace=False)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def close(self) -> None:
        stop_process(self.proc)
        self._log.close()
        RECORDER.unregister_server(self.port)


_started: List[Any] = []
# Every temporary directory the suite made itself (tmp_path_factory's are pytest's business).
_workdirs: List[pathlib.Path] = []


# The upstream schemes every upstream case runs against (its test id says which).
UPSTREAM_SCHEMES = ("http", "https")
# Proxies that exist for https only (what they test has no http counterpart).
HTTPS_ONLY_FIXTURES = {"untrusting_proxy", "noverify_proxy"}


def pytest_generate_tests(metafunc):
    """Every test that depends on `upstream_scheme` (every scheme-following proxy does) runs once
    per upstream scheme; those marked `no_upstream` (nothing they do reaches an upstream) only
    over http; those marked `https_only` or using an https-only proxy only over https."""
    if "upstream_scheme" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker
        if marker("no_upstream") is not None:
            schemes = ["http"]
        elif marker("https_only") is not None or HTTPS_ONLY_FIXTURES & set(metafunc.fixturenames):
            schemes = ["https"]
        else:
            schemes = list(UPSTREAM_SCHEMES)
        metafunc.parametrize("upstream_scheme", schemes, indirect=True, scope="session")


@pytest.fixture(scope="session")
def upstream_scheme(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def tls_files() -> TLSFiles:
    return TLSFiles()


@pytest.fixture(scope="session")
def fake(tmp_path_factory, tls_files) -> FakeUpstream:
    f = FakeUpstream(tmp_path_factory.mktemp("fake"), tls_files)
    _started.append(f)
    yield f
    f.close()
    _started.remove(f)


def _proxy_fixture(name: str, extra_env: Optional[Dict[str, str]] = None, scheme: Optional[str] = None,
                   trust_ca: bool = True):
    """A session proxy following `upstream_scheme` (one proxy per scheme, so the tests using it run
    once per scheme); with `scheme` it exists for that scheme only (see HTTPS_ONLY_FIXTURES)."""
    def start(fake: FakeUpstream, chosen: str):
        p = Proxy(name, fake, extra_env, scheme=chosen, trust_ca=trust_ca)
        _started.append(p)
        yield p
        p.close()
        _started.remove(p)

    @pytest.fixture(scope="session")
    def fixture(fake: FakeUpstream, upstream_scheme: str) -> Proxy:
        if scheme is not None and upstream_scheme != scheme:
            pytest.fail(f"proxy {name} exists for {scheme} only, not {upstream_scheme} "
                        f"(add it to HTTPS_ONLY_FIXTURES)", pytrace=False)
        yield from start(fake, upstream_scheme)
    return fixture


# The default proxy: critique on, CRITIQUE_FAILURE default (fallback), default skip patterns.
proxy = _proxy_fixture("default")
# PROXY_API_KEY set: every route but /health and /v1/health needs the key.
auth_proxy = _proxy_fixture("auth", {"PROXY_API_KEY": PROXY_KEY})
# Critique off: the primary answers alone.
nocritique_proxy = _proxy_fixture("nocritique", {"CRITIQUE_MODEL_NAME": ""})
# A failed critique is an error for the client instead of falling back to the draft.
error_proxy = _proxy_fixture("critique-error", {"CRITIQUE_FAILURE": "error"})
# https only: the test CA is NOT given (UPSTREAM_CA_FILE unset), so every handshake must fail.
untrusting_proxy = _proxy_fixture("no-ca", scheme="https", trust_ca=False)
# https only, no CA either, but UPSTREAM_TLS_VERIFY=false: works, with a WARNING at start-up.
noverify_proxy = _proxy_fixture("no-verify", {"UPSTREAM_TLS_VERIFY": "false"}, scheme="https", trust_ca=False)


@pytest.fixture
def check_config(fake, upstream_scheme):
    """Runs `hydracodedone check-config` configured like a proxy for `fake` over the test's
    upstream scheme, in an empty working directory (no .env); returns the CompletedProcess (text)."""
    def run(extra_env: Optional[Dict[str, str]] = None, trust_ca: bool = True,
            timeout: float = 30) -> subprocess.CompletedProcess:
        workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"hydra-compat-check-config-{upstream_scheme}-"))
        _workdirs.append(workdir)
        env = proxy_environment(fake, upstream_scheme, free_port(), extra_env, trust_ca)
        return subprocess.run([binary("hydracodedone"), "check-config"], env=env, cwd=workdir,
                              capture_output=True, text=True, timeout=timeout)
    return run


@pytest.fixture(autouse=True)
def clean_fake(request):
    """Forget scripts and recorded requests before every test that uses the fake (or a proxy)."""
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").reset()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of every running process's log to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for p in _started:
            label = getattr(p, "name", "fake-upstream")
            report.sections.append((f"log tail: {label}", tail(p.log_path, 30)))


# ------------------------------------------------------------------------------------------------
# OpenAI schema validation of everything the proxies answer (see openai_schema_check.py)

def pytest_configure(config):
    config.addinivalue_line("markers", "no_upstream: the test never reaches an upstream, so it runs over "
                                       "http only instead of once per upstream scheme")
    config.addinivalue_line("markers", "https_only: the test is about TLS, so it runs over https only")
    openai_schema_check.install_transport_taps()


def pytest_unconfigure(config):
    openai_schema_check.uninstall_transport_taps()


def _violation_report(violations) -> str:
    lines = [f"{len(violations)} response(s) do not match OpenAI's schema "
             f"(Tests/Compatibility/openai_schemas/openai_schemas.json):"]
    lines += [f"  - {v}" for v in violations]
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail the test in which a proxy sent a body that violates OpenAI's schema, even when the
    client itself coped (or the test expected an error)."""
    start = RECORDER.mark()
    try:
        result = yield
    except BaseException as exc:
        violations = RECORDER.claim_since(start)
        if violations:
            raise SchemaViolation(_violation_report(violations)) from exc
        raise
    violations = RECORDER.claim_since(start)
    if violations:
        raise SchemaViolation(_violation_report(violations))
    return result


def pytest_sessionfinish(session, exitstatus):
    # Bodies received outside any test's call phase (fixtures, late threads) still count.
    if RECORDER.unclaimed() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    _remove_workdirs()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tr = terminalreporter
    late = RECORDER.unclaimed()
    if late:
        tr.section("openai schema violations outside any test", sep="=", red=True)
        tr.line(_violation_report(late))
    details = ", ".join(f"{n} {name}" for name, n in sorted(RECORDER.by_schema.items()))
    tr.write_line(RECORDER.summary() + (f" ({details})" if details else ""))
    for reason, n in sorted(RECORDER.notes.items()):
        tr.write_line(f"openai schema: {n}x {reason}")


def _remove_workdirs() -> None:
    """The /tmp/hydra-compat-* directories (proxies', the CA's, check-config's): gone at the end
    of the session (processes are stopped by then: session fixtures are finalized before
    pytest_sessionfinish)."""
    for p in _started:
        if isinstance(p, Proxy):
            p.close()
    if os.environ.get("HYDRA_COMPAT_KEEP_TMP"):
        return
    while _workdirs:
        shutil.rmtree(_workdirs.pop(), ignore_errors=True)
