"""Bounded soak test of the release proxy (`make soak`; see scripts/soak.sh).

Starts the release fake-upstream and the release proxy on loopback (PRIMARY_MODEL_NAME=primary,
CRITIQUE_MODEL_NAME=critique), then for SOAK_SECONDS runs, all at once:

  * SOAK_CLIENTS well-behaved streaming clients (default 1000): each loops POSTing a streamed chat
    completion over a keep-alive connection and checks the whole answer: status 200, an SSE body
    whose content deltas equal the critique model's scripted text exactly, no error event, and
    `data: [DONE]` as the last event;
  * SOAK_DISCONNECTORS clients (default 100) that hang up mid-stream: half right after the response
    headers (while the primary model runs), half after the first content delta (during the
    critique), half of each with a TCP reset instead of a FIN;
  * SOAK_STALLERS clients (default 100) that send part of a request line or of the headers and
    then wait: the proxy must close them after HEADER_TIMEOUT_SECONDS.

It prints the proxy's open file descriptors (/proc/PID/fd) and resident memory (VmRSS) before,
during (every SOAK_SAMPLE_SECONDS) and after (clients done, then SOAK_IDLE_SECONDS idle), and
exits 1 when any well-behaved request failed, when the proxy's descriptors did not come back near
the start (pooled idle upstream connections are counted apart and allowed up to the pool size),
when a stalled client was not cut off, when upstream requests were left running, or when the
proxy died. Only loopback traffic; every loop is bounded by SOAK_SECONDS.

Standard library only.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Dict, List, Optional, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[2]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        sys.exit(f"soak: {name} must be an integer, got {raw!r}")


SOAK_SECONDS = env_int("SOAK_SECONDS", 600)
CLIENTS = env_int("SOAK_CLIENTS", 1000)
DISCONNECTORS = env_int("SOAK_DISCONNECTORS", 100)
STALLERS = env_int("SOAK_STALLERS", 100)
SAMPLE_SECONDS = env_int("SOAK_SAMPLE_SECONDS", 10)
IDLE_SECONDS = env_int("SOAK_IDLE_SECONDS", 5)
REQUEST_TIMEOUT = env_int("SOAK_REQUEST_TIMEOUT", 120)
CHUNK_DELAY_MS = env_int("SOAK_CHUNK_DELAY_MS", 5)
FD_SLACK = env_int("SOAK_FD_SLACK", 16)
# The proxy keeps up to 256 idle keep-alive connections per upstream host in each event loop's
# pool (Upstream/HTTP1/ConnectionPool, keyed per loop; one loop per core).
POOL_CAP = env_int("SOAK_POOL_CAP", 256 * (os.cpu_count() or 1))
HEADER_TIMEOUT = env_int("SOAK_HEADER_TIMEOUT_SECONDS", 15)
BIN_DIR = pathlib.Path(os.environ.get("SOAK_BIN_DIR", str(ROOT / ".build-release" / "release")))

PRIMARY_TEXT = "Draft: the answer is probably forty-two, give or take."
CRITIQUE_TEXT = "Refined answer: it is exactly forty-two, and here is why it holds up under review."
BODY_TEMPLATE = {"model": "hydracodedone", "stream": True, "messages": [{"role": "user", "content": ""}]}

# Loopback only: never let an inherited proxy setting route anything elsewhere.
for _var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    os.environ.pop(_var, None)
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Processes and /proc measurements


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: Optional[subprocess.Popen]) -> None:
    """SIGTERM, wait, then SIGKILL: only the process we started, by its pid."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def http(method: str, url: str, body: Optional[bytes] = None, timeout: float = 5.0) -> Tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with LOCAL.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def socket_table() -> Dict[str, Tuple[int, int, str]]:
    """inode -> (local port, remote port, state) for every TCP socket on the machine."""
    states = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN", "04": "FIN_WAIT1",
              "05": "FIN_WAIT2", "07": "CLOSE", "09": "LAST_ACK", "0B": "CLOSING", "02": "SYN_SENT", "03": "SYN_RECV"}
    table: Dict[str, Tuple[int, int, str]] = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = pathlib.Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10:
                continue
            local_port = int(f[1].rsplit(":", 1)[1], 16)
            remote_port = int(f[2].rsplit(":", 1)[1], 16)
            table[f[9]] = (local_port, remote_port, states.get(f[3], f[3]))
    return table


class Snapshot:
    def __init__(self, pid: int, proxy_port: int, upstream_port: int):
        fd_dir = pathlib.Path(f"/proc/{pid}/fd")
        targets = []
        for entry in fd_dir.iterdir():
            try:
                targets.append(os.readlink(entry))
            except OSError:
                pass  # closed while we looked
        self.fds = len(targets)
        self.rss_kib = 0
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                self.rss_kib = int(line.split()[1])
        table = socket_table()
        self.clients = 0  # accepted client connections
        self.upstream: Counter = Counter()  # connections to the fake upstream, by TCP state
        self.other_sockets = 0
        for t in targets:
            if not t.startswith("socket:["):
                continue
            info = table.get(t[len("socket:["):-1])
            if info is None:
                self.other_sockets += 1
            elif info[2] != "LISTEN" and info[0] == proxy_port:
                self.clients += 1
            elif info[1] == upstream_port:
                self.upstream[info[2]] += 1
            else:
                self.other_sockets += 1
        self.upstream_total = sum(self.upstream.values())

    def line(self) -> str:
        up = ", ".join(f"{k.lower()} {v}" for k, v in sorted(self.upstream.items())) or "none"
        return (f"fds {self.fds:5d}  rss {self.rss_kib / 1024:7.1f} MiB  "
                f"(client conns {self.clients}, upstream conns {self.upstream_total}: {up})")


# --------------------------------------------------------------------------------------------
# Clients


class Stats:
    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.failures: Counter = Counter()
        self.examples: Dict[str, str] = {}
        self.latencies: List[float] = []
        self.first_content: List[float] = []
        self.stale_retries = 0
        self.in_flight = 0
        self.disconnects: Counter = Counter()
        self.disconnect_errors: Counter = Counter()
        self.stalls_reaped = 0
        self.stall_close_seconds: List[float] = []
        self.stall_answers: Counter = Counter()
        self.stalls_not_reaped = 0
        self.stalls_open_at_end = 0

    def fail(self, reason: str, detail: str) -> None:
        self.failed += 1
        self.failures[reason] += 1
        self.examples.setdefault(reason, detail[:300])


class ResponseError(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class StaleConnection(Exception):
    """A reused keep-alive connection was closed before any response byte: retry on a new one."""


async def read_head(reader: asyncio.StreamReader) -> Tuple[int, Dict[str, str], str]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ResponseError("bad status line", lines[0])
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return int(parts[1]), headers, parts[0]


async def body_chunks(reader: asyncio.StreamReader, headers: Dict[str, str]):
    """Yields the decoded body in pieces as they arrive."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # Trailers, then the blank line.
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return
            data = await reader.readexactly(size + 2)
            yield data[:-2]
    elif "content-length" in headers:
        remaining = int(headers["content-length"])
        while remaining > 0:
            data = await reader.read(min(remaining, 65536))
            if not data:
                raise ResponseError("body cut short", f"{remaining} bytes missing")
            remaining -= len(data)
            yield data
    else:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            yield data


def request_bytes(port: int, n: int, keep_alive: bool = True) -> bytes:
    body = dict(BODY_TEMPLATE)
    body["messages"] = [{"role": "user", "content": f"soak question {n}"}]
    payload = json.dumps(body).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(payload)}\r\n")
    if not keep_alive:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + payload


async def one_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int, n: int,
                     reused: bool, stats: Stats) -> bool:
    """One streamed exchange on an open connection; returns whether the connection can be reused."""
    started = time.monotonic()
    writer.write(request_bytes(port, n))
    await writer.drain()
    try:
        status, headers, version = await read_head(reader)
    except asyncio.IncompleteReadError as e:
        if reused and not e.partial:
            raise StaleConnection() from None
        raise ResponseError("connection closed before the response head", repr(e.partial[:80])) from None
    if status != 200:
        rest = b""
        try:
            rest = await asyncio.wait_for(reader.read(2000), 2)
        except Exception:
            pass
        raise ResponseError(f"status {status}", rest.decode("utf-8", "replace"))
    if not headers.get("content-type", "").startswith("text/event-stream"):
        raise ResponseError("not an event stream", headers.get("content-type", ""))
    buffer = b""
    events: List[str] = []
    content: List[str] = []
    first_content_at: Optional[float] = None
    async for piece in body_chunks(reader, headers):
        buffer += piece
        while True:
            cut = buffer.find(b"\n\n")
            if cut < 0:
                break
            block, buffer = buffer[:cut], buffer[cut + 2:]
            data_lines = []
            for line in block.decode("utf-8").split("\n"):
                line = line.rstrip("\r")
                if line.startswith("data:"):
                    data_lines.append(line[6:] if line.startswith("data: ") else line[5:])
            if not data_lines:
                continue  # a comment (: keep-alive) or another field
            data = "\n".join(data_lines)
            if events and events[-1] == "[DONE]":
                raise ResponseError("event after [DONE]", data[:120])
            events.append(data)
            if data == "[DONE]":
                continue
            chunk = json.loads(data)
            if "error" in chunk:
                raise ResponseError("error event", data[:200])
            for choice in chunk.get("choices") or []:
                piece_text = (choice.get("delta") or {}).get("content")
                if piece_text:
                    if first_content_at is None:
                        first_content_at = time.monotonic()
                    content.append(piece_text)
    if buffer.strip():
        raise ResponseError("unterminated event at end of body", buffer[:120].decode("utf-8", "replace"))
    if not events or events[-1] != "[DONE]":
        raise ResponseError("no [DONE] at the end", (events[-1] if events else "<no events>")[:120])
    first = json.loads(events[0]) if events[0] != "[DONE]" else {}
    role = ((first.get("choices") or [{}])[0].get("delta") or {}).get("role")
    if role != "assistant":
        raise ResponseError("first event is not the role chunk", events[0][:120])
    text = "".join(content)
    if text != CRITIQUE_TEXT:
        raise ResponseError("wrong content", text[:200])
    stats.ok += 1
    stats.latencies.append(time.monotonic() - started)
    if first_content_at is not None:
        stats.first_content.append(first_content_at - started)
    connection = headers.get("connection", "").lower()
    if version == "HTTP/1.0" or "close" in connection or "transfer-encoding" not in headers and "content-length" not in headers:
        return False
    return True


async def good_client(index: int, port: int, deadline: float, stats: Stats) -> None:
    reader = writer = None
    n = 0
    while time.monotonic() < deadline:
        n += 1
        reused = writer is not None
        stats.in_flight += 1
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), REQUEST_TIMEOUT)
            keep = await asyncio.wait_for(one_stream(reader, writer, port, index * 1_000_000 + n, reused, stats),
                                          REQUEST_TIMEOUT)
        except StaleConnection:
            stats.stale_retries += 1
            keep = False
            n -= 1
        except ResponseError as e:
            stats.fail(e.reason, e.detail)
            keep = False
        except asyncio.TimeoutError:
            stats.fail("timeout", f"no complete answer within {REQUEST_TIMEOUT}s")
            keep = False
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            stats.fail(type(e).__name__, repr(e))
            keep = False
        finally:
            stats.in_flight -= 1
        if not keep and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def hard_close(writer: asyncio.StreamWriter, reset: bool) -> None:
    if reset:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
    writer.close()


async def disconnector(index: int, port: int, deadline: float, stats: Stats) -> None:
    after_content = index % 2 == 1
    reset = (index // 2) % 2 == 1
    kind = ("after first content" if after_content else "after headers") + (", reset" if reset else ", close")
    rng = random.Random(index)
    n = 0
    while time.monotonic() < deadline:
        n += 1
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
            writer.write(request_bytes(port, -(index * 1_000_000 + n), keep_alive=False))
            await writer.drain()
            status, headers, _ = await asyncio.wait_for(read_head(reader), REQUEST_TIMEOUT)
            if status == 200 and after_content:
                seen = b""
                while b'"content":"' not in seen.replace(b'"content": "', b'"content":"'):
                    data = await asyncio.wait_for(reader.read(4096), REQUEST_TIMEOUT)
                    if not data:
                        break
                    seen = seen[-64:] + data
            stats.disconnects[kind] += 1
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ResponseError, ValueError) as e:
            stats.disconnect_errors[type(e).__name__] += 1
        finally:
            if writer is not None:
                hard_close(writer, reset)
        await asyncio.sleep(rng.uniform(0.02, 0.2))


async def staller(index: int, port: int, deadline: float, stats: Stats) -> None:
    partial_line = index % 2 == 0
    prefix = (b"POST /v1/chat/compl" if partial_line else
              f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Ty".encode())
    while time.monotonic() < deadline:
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
            writer.write(prefix)
            await writer.drain()
            opened = time.monotonic()
            limit = HEADER_TIMEOUT + 10
            remaining = deadline - opened
            try:
                answer = await asyncio.wait_for(reader.read(4096), min(limit, max(remaining, 0.01)))
            except asyncio.TimeoutError:
                if remaining > limit:
                    stats.stalls_not_reaped += 1
                else:
                    stats.stalls_open_at_end += 1
                continue
            except ConnectionResetError:
                answer = b"<reset>"
            # The proxy answered (408) and/or closed: wait for the close itself.
            try:
                while await asyncio.wait_for(reader.read(4096), 5):
                    pass
            except (asyncio.TimeoutError, ConnectionResetError):
                pass
            stats.stalls_reaped += 1
            stats.stall_close_seconds.append(time.monotonic() - opened)
            status = answer.split(b"\r\n", 1)[0].decode("latin-1") if answer else "<closed without answer>"
            stats.stall_answers[status] += 1
        except OSError as e:
            stats.stall_answers[f"client error {type(e).__name__}"] += 1
            await asyncio.sleep(0.5)
        finally:
            if writer is not None:
                writer.close()


async def sampler(pid: int, proxy_port: int, upstream_port: int, start: float, stop_event: asyncio.Event,
                  stats: Stats, peaks: Dict[str, int]) -> None:
    while not stop_event.is_set():
        try:
            await asyncio.wait_for(stop_event.wait(), SAMPLE_SECONDS)
            return
        except asyncio.TimeoutError:
            pass
        try:
            snap = Snapshot(pid, proxy_port, upstream_port)
        except (OSError, FileNotFoundError):
            log("during: the proxy is gone")
            return
        peaks["fds"] = max(peaks["fds"], snap.fds)
        peaks["rss"] = max(peaks["rss"], snap.rss_kib)
        log(f"during  t={time.monotonic() - start:5.0f}s  {snap.line()}  | ok {stats.ok} failed {stats.failed} "
            f"in flight {stats.in_flight} disconnects {sum(stats.disconnects.values())} stalls reaped {stats.stalls_reaped}")


async def run_clients(pid: int, proxy_port: int, upstream_port: int, clients: int, disconnectors: int,
                      stallers: int, stats: Stats, peaks: Dict[str, int]) -> float:
    start = time.monotonic()
    deadline = start + SOAK_SECONDS
    stop_event = asyncio.Event()
    sample_task = asyncio.create_task(sampler(pid, proxy_port, upstream_port, start, stop_event, stats, peaks))
    tasks = []
    ramp = min(2.0, SOAK_SECONDS / 10)
    total = clients + disconnectors + stallers
    order = ([("good", i) for i in range(clients)] + [("disc", i) for i in range(disconnectors)]
             + [("stall", i) for i in range(stallers)])
    random.Random(7).shuffle(order)
    for k, (kind, i) in enumerate(order):
        if kind == "good":
            tasks.append(asyncio.create_task(good_client(i, proxy_port, deadline, stats)))
        elif kind == "disc":
            tasks.append(asyncio.create_task(disconnector(i, proxy_port, deadline, stats)))
        else:
            tasks.append(asyncio.create_task(staller(i, proxy_port, deadline, stats)))
        if total and k % 50 == 49:
            await asyncio.sleep(ramp * 50 / total)
    await asyncio.gather(*tasks)
    stop_event.set()
    await sample_task
    return time.monotonic() - start


# --------------------------------------------------------------------------------------------


def percentile(values: List[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    clients, disconnectors, stallers = CLIENTS, DISCONNECTORS, STALLERS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # This process holds one socket per client; the proxy one per client plus its upstream
    # connections (inherits the same limit); keep headroom for both.
    need = clients + disconnectors + stallers + 1024
    log(f"soak: open-file limit {soft} (hard {hard}); {clients} streaming clients, {disconnectors} "
        f"mid-stream disconnectors, {stallers} header stallers, {SOAK_SECONDS}s")
    if soft < need:
        scale = max(soft - 1024, 64) / (clients + disconnectors + stallers)
        clients, disconnectors, stallers = (max(1, int(clients * scale)), int(disconnectors * scale),
                                            int(stallers * scale))
        log("!" * 78)
        log(f"!! WARNING: open-file limit {soft} is too low for the requested load; SCALED DOWN to "
            f"{clients} streaming clients, {disconnectors} disconnectors, {stallers} stallers")
        log("!" * 78)

    proxy_bin, fake_bin = BIN_DIR / "hydracodedone", BIN_DIR / "fake-upstream"
    for b in (proxy_bin, fake_bin):
        if not os.access(b, os.X_OK):
            log(f"soak: {b} is missing: build the release binaries first")
            return 2

    work = pathlib.Path(tempfile.mkdtemp(prefix="hydra-soak-"))
    fake = proxy = None
    passed = False
    try:
        fake_log = open(work / "fake-upstream.log", "wb")
        fake = subprocess.Popen([str(fake_bin), "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE,
                                stderr=fake_log, cwd=work)
        line = fake.stdout.readline().decode().strip()
        if not line.startswith("listening on "):
            log(f"soak: fake-upstream did not start: {line!r}")
            return 2
        upstream_port = int(line.rsplit(":", 1)[1])
        upstream = f"http://127.0.0.1:{upstream_port}"
        for model, text in (("primary", PRIMARY_TEXT), ("critique", CRITIQUE_TEXT)):
            status, _ = http("PUT", f"{upstream}/__scripts/{model}",
                             json.dumps({"content": text, "chunk_delay_ms": CHUNK_DELAY_MS}).encode())
            if status != 200:
                log(f"soak: scripting {model} failed: {status}")
                return 2

        proxy_port = free_port()
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "SWIFT_BACKTRACE") if k in os.environ}
        env.update({
            "HOST": "127.0.0.1", "PORT": str(proxy_port), "OPENAI_BASE_URL": f"{upstream}/v1",
            "OPENAI_API_KEY": "soak-upstream-key", "PRIMARY_MODEL_NAME": "primary", "CRITIQUE_MODEL_NAME": "critique",
            "LOG_LEVEL": os.environ.get("SOAK_LOG_LEVEL", "WARNING"), "HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        })
        # SOAK_PROXY_<NAME>=value passes <NAME>=value to the proxy (e.g. SOAK_PROXY_MAX_CONCURRENT_REQUESTS=512).
        env.update({k[len("SOAK_PROXY_"):]: v for k, v in os.environ.items() if k.startswith("SOAK_PROXY_")})
        proxy_log_path = work / "proxy.log"
        proxy_log = open(proxy_log_path, "wb")
        proxy = subprocess.Popen([str(proxy_bin)], env=env, cwd=work, stdout=proxy_log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{proxy_port}"
        for _ in range(200):
            if proxy.poll() is not None:
                log(f"soak: the proxy exited with {proxy.returncode}:\n{proxy_log_path.read_text(errors='replace')[-2000:]}")
                return 2
            try:
                if http("GET", f"{base}/health", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            log("soak: the proxy did not become healthy")
            return 2
        # One request end to end before measuring, so "before" is a started, working proxy.
        status, body = http("POST", f"{base}/v1/chat/completions", json.dumps(
            {"model": "hydracodedone", "messages": [{"role": "user", "content": "warm-up"}]}).encode(), timeout=30)
        answer = json.loads(body)["choices"][0]["message"]["content"] if status == 200 else body[:300]
        if answer != CRITIQUE_TEXT:
            log(f"soak: warm-up request failed: {status} {answer!r}")
            return 2
        time.sleep(1)
        http("DELETE", f"{upstream}/__requests")

        before = Snapshot(proxy.pid, proxy_port, upstream_port)
        log(f"before           {before.line()}")
        stats = Stats()
        peaks = {"fds": before.fds, "rss": before.rss_kib}
        elapsed = asyncio.run(run_clients(proxy.pid, proxy_port, upstream_port, clients, disconnectors, stallers,
                                          stats, peaks))
        log(f"soak: clients done after {elapsed:.1f}s; idling {IDLE_SECONDS}s")
        time.sleep(IDLE_SECONDS)
        alive = proxy.poll() is None
        after = Snapshot(proxy.pid, proxy_port, upstream_port) if alive else None
        if after:
            peaks["fds"] = max(peaks["fds"], after.fds)
            log(f"after            {after.line()}")
        _, upstream_stats_raw = http("GET", f"{upstream}/__stats")
        upstream_stats = json.loads(upstream_stats_raw)

        # ---- report
        requests = stats.ok + stats.failed
        log("")
        log(f"well-behaved streams: {stats.ok} ok, {stats.failed} failed of {requests} "
            f"({stats.ok / max(elapsed, 1e-9):.1f} ok/s over {elapsed:.0f}s; {stats.stale_retries} stale keep-alive retries)")
        if stats.latencies:
            log(f"  latency p50 {percentile(stats.latencies, 50) * 1000:.0f} ms  p99 {percentile(stats.latencies, 99) * 1000:.0f} ms  "
                f"max {max(stats.latencies) * 1000:.0f} ms; first content p50 {percentile(stats.first_content, 50) * 1000:.0f} ms")
        for reason, count in stats.failures.most_common():
            log(f"  FAILED {count} x {reason}: e.g. {stats.examples[reason]!r}")
        log(f"mid-stream disconnects: {sum(stats.disconnects.values())} "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(stats.disconnects.items())) or 'none'})"
            + (f"; client-side errors {dict(stats.disconnect_errors)}" if stats.disconnect_errors else ""))
        closes = stats.stall_close_seconds
        timing = (f"after {percentile(closes, 50):.1f}s p50, {max(closes):.1f}s max; answers {dict(stats.stall_answers)}"
                  if closes else "none yet")
        log(f"stalled heads: {stats.stalls_reaped} cut off by the proxy ({timing}), {stats.stalls_not_reaped} not cut off "
            f"within {HEADER_TIMEOUT + 10}s, {stats.stalls_open_at_end} still waiting at the end")
        log(f"upstream (fake) stats: {upstream_stats}")
        log("")
        log(f"proxy fds: before {before.fds}, peak {peaks['fds']}, after {after.fds if after else 'n/a'}")
        log(f"proxy rss: before {before.rss_kib / 1024:.1f} MiB, peak {peaks['rss'] / 1024:.1f} MiB, "
            f"after {after.rss_kib / 1024 if after else float('nan'):.1f} MiB")

        problems = []
        if not alive:
            problems.append(f"the proxy died (exit {proxy.returncode})")
        if stats.failed:
            problems.append(f"{stats.failed} well-behaved streams failed")
        if stats.ok == 0:
            problems.append("no well-behaved stream completed")
        if after:
            # Idle pooled upstream connections stay open by design (up to the pool size); one the
            # upstream closed meanwhile waits in CLOSE_WAIT until the pool next looks at it.
            if after.fds - after.upstream_total > before.fds - before.upstream_total + FD_SLACK:
                problems.append(f"fds did not come back: {after.fds} after vs {before.fds} before, "
                                f"not counting {after.upstream_total} upstream connections")
            if after.upstream_total > POOL_CAP:
                problems.append(f"{after.upstream_total} upstream connections kept, more than the pool's {POOL_CAP}")
            if after.clients:
                problems.append(f"{after.clients} client connections still open after the clients closed")
        if stats.stalls_not_reaped:
            problems.append(f"{stats.stalls_not_reaped} stalled clients were not cut off")
        if upstream_stats.get("active", 0):
            problems.append(f"{upstream_stats['active']} upstream requests still running after the clients left")
        if stallers and not stats.stalls_reaped and SOAK_SECONDS > HEADER_TIMEOUT + 10:
            problems.append("no stalled client was ever cut off")
        errors = [l for l in proxy_log_path.read_text(errors="replace").splitlines() if " ERROR " in l or "error" in l.lower()]
        if errors:
            log(f"proxy log: {len(errors)} error lines, last: {errors[-1][:300]}")
        if problems:
            log("SOAK FAILED: " + "; ".join(problems))
            log(f"(logs kept in {work})")
            return 1
        log("SOAK PASSED")
        passed = True
        return 0
    finally:
        stop(proxy)
        stop(fake)
        if passed:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
