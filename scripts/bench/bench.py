"""Helpers for scripts/bench/run.sh: measurements that wrk cannot make, and the final table.

Every subcommand prints one JSON object on stdout (run.sh appends it to the results file) and
progress notes on stderr. Only loopback addresses are ever contacted.

  bench.py ports N                        N free loopback TCP ports, one per line
  bench.py wait-http PORT PATH TIMEOUT_S  exit 0 once GET PATH answers 200
  bench.py proc PID                       RSS / threads / fds of a process
  bench.py cpu PID                        CPU seconds and context switches of a process tree
  bench.py merge-cpu WRK BEFORE AFTER     a wrk result plus CPU per request between two `cpu` samples
  bench.py accepts PORT                   connections nginx accepted so far (its stub_status on /__nginx_status)
  bench.py merge-conns WRK BEFORE AFTER   a wrk result plus upstream connections opened per request between two `accepts`
  bench.py startup BIN RUNS               spawn BIN (env from this process, PORT replaced), time to first 200 on /health
  bench.py idle-conns PORT N PID          N keep-alive connections, one GET /health each, held open: PID's RSS
  bench.py streams PROXY_PORT FAKE_PORT CONCURRENCY ROUNDS TOKENS FIRST_MS CHUNK_MS
  bench.py open-streams PROXY_PORT FAKE_PORT N PID
  bench.py backpressure PROXY_PORT FAKE_PORT PID MODEL N IDLE_S [N IDLE_S...]  streams whose clients read nothing: PID's RSS
  bench.py trickle PORT PID KIB...         one header block of KIB KiB, one `a:` line per TCP segment: PID's CPU
  bench.py table RESULTS_FILE             the final table
"""

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time

HOST = "127.0.0.1"


def emit(obj):
    print(json.dumps(obj), flush=True)


# ---------------------------------------------------------------- process figures

def proc_status(pid):
    """VmRSS (KiB), Threads and open fds of a live process, from /proc."""
    out = {"pid": int(pid)}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "VmRSS":
                out["rss_kib"] = int(value.split()[0])
            elif key == "VmHWM":
                out["hwm_kib"] = int(value.split()[0])
            elif key == "RssAnon":
                out["anon_kib"] = int(value.split()[0])
            elif key == "RssFile":
                out["file_kib"] = int(value.split()[0])
            elif key == "Threads":
                out["threads"] = int(value.split()[0])
    try:
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return out


def tree_cpu(pid):
    """CPU seconds (user+system) and context switches of a process, its threads and its children
    (nginx's workers are children of its master)."""
    pid = int(pid)
    pids, parents = [pid], {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    frontier = [pid]
    while frontier:
        children = [c for c, pp in parents.items() if pp in frontier]
        pids += children
        frontier = children
    tick = os.sysconf("SC_CLK_TCK")
    cpu, ctx = 0.0, 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / tick
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            ctx += int(line.split(":")[1])
        except OSError:
            pass
    return {"cpu_s": cpu, "ctx": ctx, "procs": len(pids)}


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    if not s:
        return None
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


# ---------------------------------------------------------------- tiny HTTP/1.1 client pieces

def http_get_blocking(port, path, timeout=2.0):
    """One GET on a fresh connection; returns the status code or None."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode())
            return read_status(s)
    except (OSError, ValueError):
        return None


def read_status(s):
    """The status code of the response arriving on socket s (None if there is none)."""
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


def http_request_blocking(port, method, path, body=b"", timeout=5.0):
    """One request on a fresh connection (Connection: close); returns (status, body bytes)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        s.sendall(head + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        d = ChunkedDecoder()
        rest = d.feed(rest)
    return status, rest


class ChunkedDecoder:
    """Incremental Transfer-Encoding: chunked decoder; feed() returns the payload bytes so far."""

    def __init__(self):
        self.buf = b""
        self.remaining = 0  # payload bytes left in the current chunk
        self.state = "size"  # size | data | crlf | done
        self.done = False

    def feed(self, data):
        self.buf += data
        out = bytearray()
        while True:
            if self.state == "size":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                size = int(self.buf[:i].split(b";")[0].strip() or b"0", 16)
                self.buf = self.buf[i + 2:]
                if size == 0:
                    self.state = "done"
                    self.done = True
                    break
                self.remaining = size
                self.state = "data"
            elif self.state == "data":
                if not self.buf:
                    break
                take = self.buf[:self.remaining]
                out += take
                self.buf = self.buf[len(take):]
                self.remaining -= len(take)
                if self.remaining == 0:
                    self.state = "crlf"
            elif self.state == "crlf":
                if len(self.buf) < 2:
                    break
                self.buf = self.buf[2:]
                self.state = "size"
            else:
                break
        return bytes(out)


class SSEEvents:
    """Splits an SSE byte stream into events; each event keeps the time its last byte arrived."""

    def __init__(self):
        self.buf = b""

    def feed(self, data, t):
        self.buf = (self.buf + data).replace(b"\r\n", b"\n")
        events = []
        while True:
            i = self.buf.find(b"\n\n")
            if i < 0:
                break
            raw, self.buf = self.buf[:i], self.buf[i + 2:]
            datas = [line[5:].lstrip() for line in raw.split(b"\n") if line.startswith(b"data:")]
            if not datas:
                events.append((t, "comment", None))
                continue
            payload = b"\n".join(datas)
            if payload == b"[DONE]":
                events.append((t, "done", None))
                continue
            try:
                obj = json.loads(payload)
            except ValueError:
                events.append((t, "garbage", payload[:80]))
                continue
            if "error" in obj:
                events.append((t, "error", obj["error"]))
                continue
            choices = obj.get("choices") or []
            if not choices:
                events.append((t, "usage", None))
                continue
            delta = choices[0].get("delta") or {}
            content = delta.get("content")
            if content:
                events.append((t, "content", content))
            elif choices[0].get("finish_reason"):
                events.append((t, "finish", None))
            elif "role" in delta:
                events.append((t, "role", None))
            else:
                events.append((t, "other", None))
        return events


async def sse_stream(port, body, on_open=None, hold=None):
    """POSTs a streamed chat request on a fresh connection and reads the SSE answer to the end.
    Returns {"status", "t0", "events": [(t, kind, value)], "error"}: t in perf_counter seconds."""
    result = {"status": None, "events": [], "error": None}
    writer = None
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
                f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        result["t0"] = time.perf_counter()
        writer.write(head + body)
        raw_head = await reader.readuntil(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        result["status"] = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k:
                headers[k.strip().lower()] = v.strip()
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = int(headers["content-length"]) if "content-length" in headers else None
        dechunk = ChunkedDecoder() if chunked else None
        sse = SSEEvents()
        got = 0
        opened = False
        while True:
            data = await reader.read(65536)
            t = time.perf_counter()
            if not data:
                break
            got += len(data)
            payload = dechunk.feed(data) if dechunk else data
            events = sse.feed(payload, t)
            result["events"].extend(events)
            if on_open and not opened and events:
                opened = True
                on_open()
                if hold is not None:
                    await hold.wait()
                    break
            if any(k == "done" for _, k, _ in events):
                break
            if dechunk and dechunk.done:
                break
            if length is not None and got >= length:
                break
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except Exception:  # noqa: BLE001
                pass
    return result


def chat_body(model, stream=True, text="Explain TCP slow start in one paragraph."):
    return json.dumps({"model": model, "stream": stream,
                       "messages": [{"role": "user", "content": text}]}).encode()


def set_script(fake_port, model, script):
    status, body = http_request_blocking(fake_port, "PUT", f"/__scripts/{model}", json.dumps(script).encode())
    if status != 200:
        raise SystemExit(f"fake-upstream refused the script for {model}: {status} {body[:200]!r}")


def fake_stats(fake_port):
    status, body = http_request_blocking(fake_port, "GET", "/__stats")
    return json.loads(body) if status == 200 else {}


def loop_runner():
    try:
        import uvloop  # noqa: F401 - a faster event loop makes the client's own timing noise smaller
        return uvloop.run, "uvloop"
    except ImportError:
        return asyncio.run, "asyncio"


# ---------------------------------------------------------------- subcommands

def cmd_ports(n):
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind((HOST, 0))
        socks.append(s)
    for s in socks:
        print(s.getsockname()[1])
    for s in socks:
        s.close()


def cmd_wait_http(port, path, timeout):
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        if http_get_blocking(int(port), path, timeout=0.5) == 200:
            return 0
        time.sleep(0.02)
    return 1


def cmd_startup(binary, runs):
    """Spawn to first 200 on /health, polling every 1 ms; the process is stopped after each run."""
    times = []
    for i in range(int(runs)):
        s = socket.socket()
        s.bind((HOST, 0))
        port = s.getsockname()[1]
        s.close()
        env = dict(os.environ, PORT=str(port), HOST=HOST)
        t0 = time.perf_counter()
        p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = None
        while time.perf_counter() - t0 < 5.0:
            if http_get_blocking(port, "/health", timeout=0.5) == 200:
                ok = time.perf_counter() - t0
                break
            if p.poll() is not None:
                break
            time.sleep(0.001)
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if ok is None:
            emit({"error": f"run {i}: no 200 on /health within 5 s (exit {p.returncode})"})
            return 1
        times.append(ok * 1000)
    emit({"runs": len(times), "p50_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
          "all_ms": [round(t, 1) for t in times]})
    return 0


def cmd_idle_conns(port, n, pid):
    port, n = int(port), int(n)
    before = proc_status(pid)
    socks, ok, bad = [], 0, 0
    request = f"GET /health HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    for _ in range(n):
        s = socket.create_connection((HOST, port), timeout=5)
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(body) < length:
            chunk = s.recv(4096)
            if not chunk:
                break
            body += chunk
        if head.startswith(b"HTTP/1.1 200") and b"close" not in head.lower():
            ok += 1
        else:
            bad += 1
        socks.append(s)
    time.sleep(0.5)
    during = proc_status(pid)
    # Still open? A zero-byte non-blocking read means the server closed it.
    still_open = 0
    for s in socks:
        s.setblocking(False)
        try:
            still_open += 1 if s.recv(1) else 0
        except BlockingIOError:
            still_open += 1
        except OSError:
            pass
    for s in socks:
        s.close()
    time.sleep(0.3)
    after = proc_status(pid)
    emit({"connections": n, "ok": ok, "bad": bad, "still_open": still_open, "before": before, "during": during, "after": after})
    return 0 if ok == n else 1


def cmd_streams(proxy_port, fake_port, concurrency, rounds_n, tokens, first_ms, chunk_ms):
    proxy_port, fake_port = int(proxy_port), int(fake_port)
    concurrency, rounds_n, tokens = int(concurrency), int(rounds_n), int(tokens)
    first_ms, chunk_ms = int(first_ms), int(chunk_ms)
    for model in ("bench-primary", "bench-critique"):
        set_script(fake_port, model, {"chunks": [f"{model[6:]}{i} " for i in range(tokens)],
                                      "first_delay_ms": first_ms, "chunk_delay_ms": chunk_ms})
    run, loop_name = loop_runner()

    def content_times(r):
        return [t for t, k, _ in r["events"] if k == "content"]

    def gaps(ts):
        return [(b - a) * 1000 for a, b in zip(ts, ts[1:])]

    async def direct_one():
        p = await sse_stream(fake_port, chat_body("bench-primary"))
        c = await sse_stream(fake_port, chat_body("bench-critique"))
        return p, c

    async def rounds():
        # Rounds alternate, so a change in the machine's load hits both sides alike.
        direct, proxied = [], []
        for _ in range(rounds_n):
            direct += await asyncio.gather(*(direct_one() for _ in range(concurrency)))
            proxied += await asyncio.gather(*(sse_stream(proxy_port, chat_body("hydracodedone")) for _ in range(concurrency)))
        return direct, proxied

    problems = []
    # The ideal: a client that talks to the upstream itself, same concurrency, same scripts.
    direct, proxied = run(rounds())
    ideal, direct_gaps, direct_first = [], [], []
    for p, c in direct:
        if p["error"] or c["error"] or p["status"] != 200 or c["status"] != 200:
            problems.append(f"direct: {p['error'] or p['status']} / {c['error'] or c['status']}")
            continue
        done = [t for t, k, _ in p["events"] if k == "done"]
        ct = content_times(c)
        if not done or not ct:
            problems.append("direct: stream without [DONE] or content")
            continue
        ideal.append((done[0] - p["t0"]) * 1000 + (ct[0] - c["t0"]) * 1000)
        direct_first.append((ct[0] - c["t0"]) * 1000)
        direct_gaps += gaps(ct)

    ttft, proxy_gaps, events_per_delta, kinds_bad = [], [], [], 0
    for r in proxied:
        if r["error"] or r["status"] != 200:
            problems.append(f"proxy: {r['error'] or r['status']}")
            continue
        kinds = [k for _, k, _ in r["events"]]
        if "error" in kinds or "done" not in kinds:
            kinds_bad += 1
            problems.append(f"proxy: stream ended with {kinds[-3:]}")
            continue
        ct = content_times(r)
        if not ct:
            problems.append("proxy: no content")
            continue
        ttft.append((ct[0] - r["t0"]) * 1000)
        proxy_gaps += gaps(ct)
        events_per_delta.append(len(ct) / tokens)

    if not ttft or not ideal:
        emit({"error": "no complete streams", "problems": problems[:10]})
        return 1
    ideal_p50 = statistics.median(ideal)
    excess = [t - ideal_p50 for t in ttft]
    emit({
        "loop": loop_name, "concurrency": concurrency, "streams": len(proxied), "ok": len(ttft),
        "tokens": tokens, "first_delay_ms": first_ms, "chunk_delay_ms": chunk_ms,
        "nominal_ideal_ms": 2 * first_ms + (tokens - 1) * chunk_ms,
        "ttft_p50_ms": percentile(ttft, 50), "ttft_p99_ms": percentile(ttft, 99), "ttft_max_ms": max(ttft),
        "ideal_p50_ms": ideal_p50, "ideal_p99_ms": percentile(ideal, 99),
        "critique_first_p50_ms": statistics.median(direct_first),
        "excess_p50_ms": percentile(excess, 50), "excess_p99_ms": percentile(excess, 99),
        "excess_p99_vs_ideal_p99_ms": percentile(ttft, 99) - percentile(ideal, 99),
        "gap_p50_ms": percentile(proxy_gaps, 50), "gap_p99_ms": percentile(proxy_gaps, 99), "gap_max_ms": max(proxy_gaps),
        "direct_gap_p50_ms": percentile(direct_gaps, 50), "direct_gap_p99_ms": percentile(direct_gaps, 99),
        "direct_gap_max_ms": max(direct_gaps),
        "events_per_delta_min": min(events_per_delta), "events_per_delta_max": max(events_per_delta),
        "events_per_delta_mean": statistics.mean(events_per_delta),
        "problems": len(problems), "problem_samples": problems[:5],
    })
    return 0 if not problems else 1


def cmd_drafts(proxy_port, fake_port, rounds_n, concurrency, tokens, first_ms, chunk_ms):
    """Time to the first answer token with 3 parallel drafts against 1 (hydra.drafts), same
    token-paced scripts, rounds alternating so load changes hit both alike. The drafts run at
    once, so the goal is about 1x, not 3x."""
    proxy_port, fake_port = int(proxy_port), int(fake_port)
    rounds_n, concurrency, tokens = int(rounds_n), int(concurrency), int(tokens)
    first_ms, chunk_ms = int(first_ms), int(chunk_ms)
    for model in ("bench-primary", "bench-critique"):
        set_script(fake_port, model, {"chunks": [f"{model[6:]}{i} " for i in range(tokens)],
                                      "first_delay_ms": first_ms, "chunk_delay_ms": chunk_ms})
    run, loop_name = loop_runner()

    def body(drafts):
        return json.dumps({"model": "hydracodedone", "stream": True, "hydra": {"drafts": drafts},
                           "messages": [{"role": "user", "content": "Explain TCP slow start in one paragraph."}]}).encode()

    async def rounds():
        out = {1: [], 3: []}
        for _ in range(rounds_n):
            for drafts in (1, 3):
                out[drafts] += await asyncio.gather(*(sse_stream(proxy_port, body(drafts)) for _ in range(concurrency)))
        return out

    results = run(rounds())
    ttft, problems = {1: [], 3: []}, []
    for drafts, rs in results.items():
        for r in rs:
            ct = [t for t, k, _ in r["events"] if k == "content"]
            if r["error"] or r["status"] != 200 or not ct:
                problems.append(f"drafts={drafts}: {r['error'] or r['status']}")
                continue
            ttft[drafts].append((ct[0] - r["t0"]) * 1000)
    if not ttft[1] or not ttft[3]:
        emit({"error": "no complete streams", "problems": problems[:5]})
        return 1
    emit({"loop": loop_name, "rounds": rounds_n, "concurrency": concurrency, "tokens": tokens,
          "first_delay_ms": first_ms, "chunk_delay_ms": chunk_ms,
          "nominal_ms": 2 * first_ms + (tokens - 1) * chunk_ms,
          "ttft1_p50_ms": statistics.median(ttft[1]), "ttft3_p50_ms": statistics.median(ttft[3]),
          "ttft1_p99_ms": percentile(ttft[1], 99), "ttft3_p99_ms": percentile(ttft[3], 99),
          "ok": len(ttft[1]) + len(ttft[3]), "streams": sum(len(v) for v in results.values()),
          "problems": len(problems), "problem_samples": problems[:5]})
    return 0 if not problems else 1


def cmd_open_streams(proxy_port, fake_port, n, pid):
    proxy_port, fake_port, n = int(proxy_port), int(fake_port), int(n)
    # Slow primary: headers at once, then nothing for a minute; the proxy keeps every stream open.
    set_script(fake_port, "bench-primary", {"content": "slow", "first_delay_ms": 60000})
    http_request_blocking(fake_port, "DELETE", "/__requests")
    before = proc_status(pid)
    run, loop_name = loop_runner()
    out = {"loop": loop_name, "n": n, "before": before}

    async def main():
        hold = asyncio.Event()
        opened = 0
        all_open = asyncio.Event()

        def on_open():
            nonlocal opened
            opened += 1
            if opened == n:
                all_open.set()

        t0 = time.perf_counter()
        tasks = []
        for i in range(n):
            # 50 new connections every 10 ms: no SYN flood against the listen backlog.
            if i and i % 50 == 0:
                await asyncio.sleep(0.01)
            tasks.append(asyncio.ensure_future(sse_stream(proxy_port, chat_body("hydracodedone"), on_open=on_open, hold=hold)))
        try:
            await asyncio.wait_for(all_open.wait(), timeout=40)
        except asyncio.TimeoutError:
            pass
        out["opened"] = opened
        out["open_s"] = time.perf_counter() - t0
        # Wait until the upstream sees every stream (its counter moves once its headers are out).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = await asyncio.to_thread(fake_stats, fake_port)
            if st.get("active", 0) >= n:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        out["upstream_active"] = (await asyncio.to_thread(fake_stats, fake_port)).get("active")
        out["during"] = proc_status(pid)
        hold.set()
        results = await asyncio.gather(*tasks)
        out["client_errors"] = sum(1 for r in results if r["error"])
        out["client_error_samples"] = list({r["error"] for r in results if r["error"]})[:3]
        out["non200"] = sum(1 for r in results if r["status"] not in (200, None))
        # The clients are gone: the proxy should hang up on the upstream for each of them.
        t_close = time.perf_counter()
        deadline = time.monotonic() + 10
        st = {}
        while time.monotonic() < deadline:
            st = await asyncio.to_thread(fake_stats, fake_port)
            if st.get("active", n) == 0:
                break
            await asyncio.sleep(0.05)
        out["upstream_after_close"] = st
        out["cancel_s"] = time.perf_counter() - t_close

    run(main())
    # Settled: the proxy returns freed memory about 1-2 s after a burst ends.
    time.sleep(3.0)
    out["after"] = proc_status(pid)
    emit(out)
    return 0 if out.get("opened") == n else 1


def cmd_backpressure(proxy_port, fake_port, pid, model, *phases):
    """Streamed requests (critique off) whose clients send the request and then read nothing, while
    the upstream pushes a long, fast stream of 4 KiB deltas: how much of it the proxy buffers (its
    RSS growth) and how much the upstream got rid of (its bytes_sent). PHASES: N IDLE_S pairs, run
    in turn (e.g. 1 4 100 8: one such client for 4 s, then 100 for 8 s)."""
    proxy_port, fake_port = int(proxy_port), int(fake_port)
    cap_mib = int(os.environ.get("BENCH_BP_RSS_CAP_MIB", "4096"))
    delta = ("lorem ipsum dolor sit amet " * 160)[:4096]
    repeat = 32 * 1024  # 128 MiB of deltas per stream: more than the proxy relays in the idle time
    set_script(fake_port, model, {"chunks": [delta], "repeat": repeat})
    body = chat_body("hydracodedone")
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {HOST}:{proxy_port}\r\nContent-Type: application/json\r\n"
            f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    out = {"delta_bytes": len(delta), "stream_mib": round(len(delta) * repeat / 2**20), "cap_mib": cap_mib, "phases": []}
    ok = True
    pairs = [(int(phases[k]), float(phases[k + 1])) for k in range(0, len(phases) - 1, 2)]
    for index, (n, idle_s) in enumerate(pairs):
        http_request_blocking(fake_port, "DELETE", "/__requests")
        time.sleep(0.5)
        before = proc_status(pid)
        ph = {"n": n, "idle_s": idle_s, "before": before}
        socks = []
        t0 = time.monotonic()
        for _ in range(n):
            s = socket.create_connection((HOST, proxy_port), timeout=5)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(head + body)
            socks.append(s)
        # Idle: nobody reads. Sample the proxy's RSS and the upstream's counters.
        samples, peak, capped = [], before["rss_kib"], False
        while time.monotonic() - t0 < idle_s:
            time.sleep(0.25)
            st = fake_stats(fake_port)
            rss = proc_status(pid)["rss_kib"]
            peak = max(peak, rss)
            samples.append((round(time.monotonic() - t0, 2), rss, st.get("active"), st.get("bytes_sent")))
            if (rss - before["rss_kib"]) / 1024 > cap_mib:
                capped = True
                break
        ph["idle_measured_s"] = round(time.monotonic() - t0, 2)
        ph["end_of_idle"] = proc_status(pid)
        ph["peak_rss_kib"] = peak
        # Still growing at the end? RSS slope over the last 2 s of the idle (0 once the proxy stops reading).
        end_t, end_rss = samples[-1][0], samples[-1][1]
        ref = next((smp for smp in samples if smp[0] >= end_t - 2.0), samples[0])
        ph["tail_mib_per_s"] = (end_rss - ref[1]) / 1024 / max(end_t - ref[0], 0.25)
        st = fake_stats(fake_port)
        ph["upstream_active"] = st.get("active")
        ph["upstream_bytes_sent"] = st.get("bytes_sent")
        ph["capped"] = capped
        ph["samples"] = [(t, round(r / 1024, 1), a, b) for t, r, a, b in samples[::4]]
        # Did each stream start? Read the status line only now (12 bytes).
        statuses = {}
        for s in socks:
            try:
                s.settimeout(2)
                line = s.recv(12)
                code = line[9:12].decode() if line.startswith(b"HTTP/1.") else "?"
            except OSError as e:
                code = type(e).__name__
            statuses[code] = statuses.get(code, 0) + 1
        ph["statuses"] = statuses
        ok = ok and statuses.get("200") == n
        for s in socks:
            s.close()
        # The clients are gone: the proxy should hang up on the upstream for each, and give the memory back.
        t_close = time.monotonic()
        deadline = t_close + 15
        while time.monotonic() < deadline:
            st = fake_stats(fake_port)
            if st.get("active", n) == 0:
                break
            time.sleep(0.1)
        ph["upstream_after_close"] = st
        ph["cancel_s"] = round(time.monotonic() - t_close, 2)
        time.sleep(3.0 if index == len(pairs) - 1 else 2.0)
        ph["settled"] = proc_status(pid)
        out["phases"].append(ph)
    emit(out)
    return 0 if ok else 1


def cmd_trickle(port, pid, *kibs):
    """One connection per size: a GET /health whose header block is KIB KiB of `a:` lines, each line
    sent in its own TCP segment (TCP_NODELAY, a short pause after each), then the blank line. The
    CPU (utime+stime) the server spent over the whole exchange, and the answer's status."""
    port = int(port)
    pace = float(os.environ.get("BENCH_TRICKLE_PACE_S", "0.0001"))
    runs = []
    for kib in kibs:
        kib = int(kib)
        line = b"a:\r\n"
        first = f"GET /health HTTP/1.1\r\nHost: {HOST}:{port}\r\n".encode()
        lines = max(0, (kib * 1024 - len(first)) // len(line))
        before = tree_cpu(pid)
        t0 = time.monotonic()
        status, error = None, None
        try:
            with socket.create_connection((HOST, port), timeout=30) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.sendall(first)
                for _ in range(lines):
                    s.send(line)
                    time.sleep(pace)
                sent_s = time.monotonic() - t0
                s.sendall(b"\r\n")
                status = read_status(s)
        except OSError as e:
            error = f"{type(e).__name__}: {e}"
            sent_s = time.monotonic() - t0
        time.sleep(0.3)  # let the server finish with the connection before the CPU sample
        after = tree_cpu(pid)
        cpu_ms = (after["cpu_s"] - before["cpu_s"]) * 1000
        runs.append({"kib": kib, "lines": lines, "head_bytes": len(first) + lines * len(line) + 2, "status": status,
                     "error": error, "send_s": round(sent_s, 2), "cpu_ms": cpu_ms,
                     "cpu_us_per_line": cpu_ms * 1000 / max(lines, 1)})
        time.sleep(0.2)
    emit({"pace_s": pace, "runs": runs})
    return 0 if all(r["status"] for r in runs) else 1


# ---------------------------------------------------------------- the table

def cmd_table(path):
    res = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                obj = json.loads(line)
                res[obj["key"]] = obj
    rows = []
    invalid = []

    def mib(kib):
        return kib / 1024.0

    def fmt(v, unit="", digits=1):
        if v is None:
            return "n/a"
        if isinstance(v, str):
            return v
        return f"{v:,.{digits}f}{unit}"

    def met(ok):
        return "n/a" if ok is None else ("yes" if ok else "NO")

    # Rounds (KEY_1, KEY_2, ...) of one measurement: median p50/p99 over rounds, errors summed.
    for base in sorted({k.rsplit("_", 1)[0] for k in res if k.rsplit("_", 1)[-1].isdigit()}):
        rounds = [res[k] for k in sorted(res) if k.rsplit("_", 1)[0] == base and k.rsplit("_", 1)[-1].isdigit()]
        if base in res or not all("rps" in r for r in rounds):
            continue
        merged = {"rounds": len(rounds), "rps": statistics.mean(r["rps"] for r in rounds),
                  "p50_us": statistics.median(r["p50_us"] for r in rounds), "p99_us": statistics.median(r["p99_us"] for r in rounds),
                  "p50_all_us": [r["p50_us"] for r in rounds]}
        for k in ("requests", "connect", "read", "write", "status", "timeout"):
            merged[k] = sum(r.get(k, 0) for r in rounds)
        if all("cpu_us_per_req" in r for r in rounds) and merged["requests"]:
            # CPU over all the rounds' requests (each round's CPU is whole clock ticks: pool them).
            merged["cpu_us_per_req"] = sum(r["cpu_us_per_req"] * r["requests"] for r in rounds) / merged["requests"]
            merged["ctx_per_req"] = sum(r["ctx_per_req"] * r["requests"] for r in rounds) / merged["requests"]
        if all("upstream_conns" in r for r in rounds) and merged["requests"]:
            merged["upstream_conns_per_req"] = sum(r["upstream_conns"] for r in rounds) / merged["requests"]
        res[base] = merged

    def wrk_valid(key):
        w = res.get(key)
        if w is None:
            return None  # that section did not run (BENCH_ONLY)
        if "rps" not in w:
            invalid.append(f"{key}: no result")
            return None
        errs = {k: w.get(k, 0) for k in ("connect", "read", "write", "timeout")}
        if w.get("status", 0):
            invalid.append(f"{key}: {w['status']} non-2xx/3xx responses (figure invalid)")
        if any(errs.values()):
            invalid.append(f"{key}: socket errors {errs}")
        return w

    def add(metric, proxy, other, ratio, goal, ok, valid=True):
        rows.append((metric, proxy, other, ratio, goal, met(ok) if valid else "INVALID"))

    # (1) /health
    p, n = wrk_valid("health_proxy"), wrk_valid("health_nginx")
    if p and n:
        ok_p = p.get("status", 0) == 0 and n.get("status", 0) == 0
        add("GET /health req/s (wrk -t2 -c64)", fmt(p["rps"], "", 0), fmt(n["rps"], "", 0), f"{p['rps'] / n['rps']:.2f}x", "report", None, ok_p)
        if "cpu_us_per_req" in p and "cpu_us_per_req" in n:
            add("CPU per /health request", fmt(p["cpu_us_per_req"], " us"), fmt(n["cpu_us_per_req"], " us"),
                f"{p['cpu_us_per_req'] / n['cpu_us_per_req']:.2f}x", "report", None)
        add("GET /health p50 latency", fmt(p["p50_us"] / 1000, " ms", 3), fmt(n["p50_us"] / 1000, " ms", 3), f"{p['p50_us'] / max(n['p50_us'], 1):.2f}x", "report", None)
        add("GET /health p99 latency", fmt(p["p99_us"] / 1000, " ms", 3), fmt(n["p99_us"] / 1000, " ms", 3), f"{p['p99_us'] / max(n['p99_us'], 1):.2f}x", "report", None)
    ic = res.get("idle_conns")
    if ic and "during" in ic:
        rss = mib(ic["during"]["rss_kib"])
        add(f"RSS, {ic['connections']:,} idle keep-alive conns ({ic['ok']} ok, {ic['still_open']} still open)", fmt(rss, " MiB"), "", "", "< 30 MiB",
            rss < 30 and ic["ok"] == ic["connections"])
    # (2) pipeline
    p, n = wrk_valid("pipeline_proxy"), wrk_valid("pipeline_nginx")
    if p and n:
        valid = p.get("status", 0) == 0
        add("pipeline req/s (2 upstream calls, -c64)", fmt(p["rps"], "", 0), fmt(n["rps"], "", 0), f"{p['rps'] / n['rps']:.2f}x",
            ">= 8,000 and >= 1.0x", p["rps"] >= 8000 and p["rps"] >= n["rps"], valid and n.get("status", 0) == 0)
        add("pipeline p50 / p99 latency", f"{p['p50_us'] / 1000:.2f} / {p['p99_us'] / 1000:.2f} ms", f"{n['p50_us'] / 1000:.2f} / {n['p99_us'] / 1000:.2f} ms",
            f"{p['p50_us'] / max(n['p50_us'], 1):.2f}x", "report", None)
    if p and n and "cpu_us_per_req" in p and "cpu_us_per_req" in n:
        add("CPU per pipeline request (server process only)", fmt(p["cpu_us_per_req"], " us"), fmt(n["cpu_us_per_req"], " us"),
            f"{p['cpu_us_per_req'] / n['cpu_us_per_req']:.2f}x", "report", None)
        add("context switches per pipeline request", fmt(p["ctx_per_req"], "", 2), fmt(n["ctx_per_req"], "", 2),
            f"{p['ctx_per_req'] / max(n['ctx_per_req'], 1e-9):.1f}x", "report", None)
    if p and n and "upstream_conns_per_req" in p and "upstream_conns_per_req" in n:
        # nginx's auth_request call never keeps its upstream connection (it has a body): one connect per request.
        add("upstream connections opened per pipeline request", fmt(p["upstream_conns_per_req"], "", 3),
            fmt(n["upstream_conns_per_req"], "", 3) + " (auth_request call)", "", "report", None)
    pi = res.get("pipeline_proxy_info")
    if pi and "rps" in pi and p:
        wrk_valid("pipeline_proxy_info")
        add("pipeline req/s at LOG_LEVEL=INFO (default)", fmt(pi["rps"], "", 0), fmt(p["rps"], "", 0) + " (WARNING)", f"{pi['rps'] / p['rps']:.2f}x", "report", None)
    # (3) added latency per upstream call
    pc, d, nc = wrk_valid("c1_proxy"), wrk_valid("c1_direct"), wrk_valid("c1_nginx")
    if pc and d:
        added = (pc["p50_us"] - d["p50_us"]) / 2 / 1000
        other = (nc["p50_us"] - d["p50_us"]) / 2 / 1000 if nc else None
        add("added latency per upstream call, p50 (-c1)", fmt(added, " ms", 3), fmt(other, " ms", 3) + " (nginx)" if other is not None else "n/a",
            f"{added / other:.2f}x" if other else "", "<= 0.1 ms", added <= 0.1, pc.get("status", 0) == 0 and d.get("status", 0) == 0)
        add(f"  -c1 p50 (median of {pc.get('rounds', 1)} rounds): proxy / nginx pipeline / upstream alone", f"{pc['p50_us'] / 1000:.3f} ms",
            f"{nc['p50_us'] / 1000:.3f} / {d['p50_us'] / 1000:.3f} ms" if nc else "", "", "report", None)
    # (4) streaming
    s = res.get("streams")
    if s and "ttft_p50_ms" in s:
        add(f"stream TTFT p50 ({s['concurrency']} streams, {s['ok']}/{s['streams']} ok)", fmt(s["ttft_p50_ms"], " ms"), fmt(s["ideal_p50_ms"], " ms") + " ideal",
            f"{s['ttft_p50_ms'] / s['ideal_p50_ms']:.2f}x", "report", None)
        add("stream TTFT excess p50 (vs ideal p50)", fmt(s["excess_p50_ms"], " ms", 2), "0", "", "<= 5 ms", s["excess_p50_ms"] <= 5 and s["problems"] == 0)
        add("stream TTFT excess p99 (vs ideal p50)", fmt(s["excess_p99_ms"], " ms", 2), f"(p99 vs ideal p99: {s['excess_p99_vs_ideal_p99_ms']:+.1f} ms)", "", "<= 20 ms",
            s["excess_p99_ms"] <= 20 and s["problems"] == 0)
        add("client events per upstream delta (min..max)", f"{s['events_per_delta_min']:.2f}..{s['events_per_delta_max']:.2f}", "1.00", "", "1 event per delta",
            s["events_per_delta_min"] == 1.0 and s["events_per_delta_max"] == 1.0)
        add(f"inter-event gap p50 / p99 (upstream pace {s['chunk_delay_ms']} ms)", f"{s['gap_p50_ms']:.2f} / {s['gap_p99_ms']:.2f} ms",
            f"{s['direct_gap_p50_ms']:.2f} / {s['direct_gap_p99_ms']:.2f} ms direct", f"{s['gap_p99_ms'] / s['direct_gap_p99_ms']:.2f}x", "report", None)
        add("max extra inter-event delay (max gap - pace)", fmt(s["gap_max_ms"] - s["chunk_delay_ms"], " ms", 2),
            fmt(s["direct_gap_max_ms"] - s["chunk_delay_ms"], " ms", 2) + " direct", "", "report", None)
        if s["problems"]:
            invalid.append(f"streams: {s['problems']} failed streams, e.g. {s['problem_samples']}")
    elif s:
        invalid.append(f"streams: {s.get('error')} {s.get('problems')}")
    s1 = res.get("streams_c1")
    if s1 and "ttft_p50_ms" in s1:
        add(f"  same, one stream at a time ({s1['ok']} streams): TTFT excess p50 / max gap", f"{s1['excess_p50_ms']:.2f} / {s1['gap_max_ms']:.2f} ms",
            f"ideal {s1['ideal_p50_ms']:.1f} ms, direct max gap {s1['direct_gap_max_ms']:.2f} ms", "", "report", None)
    # (5) 1,000 open streams
    o = res.get("open_streams")
    if o and "during" in o:
        rss = mib(o["during"]["rss_kib"])
        add(f"RSS, {o['opened']:,}/{o['n']:,} open streams (upstream active {o.get('upstream_active')})", fmt(rss, " MiB"), "", "", "<= 150 MiB",
            rss <= 150 and o["opened"] == o["n"])
        add("threads with those streams open", str(o["during"]["threads"]), f"{o['before']['threads']} before", "", "no thread per stream",
            o["during"]["threads"] <= o["before"]["threads"] + 8)
        if o.get("client_errors") or o.get("non200"):
            invalid.append(f"open_streams: {o.get('client_errors')} client errors {o.get('client_error_samples')}, {o.get('non200')} non-200")
        up = o.get("upstream_after_close", {})
        add("upstream streams left open 10 s after clients left", str(up.get("active", "n/a")), f"{up.get('disconnects', 'n/a')} cancelled", f"{o['cancel_s']:.2f} s", "0", up.get("active") == 0)
    # (6) idle, after load, start-up
    idle = res.get("idle")
    if idle and "rss_kib" in idle:
        add("idle RSS", fmt(mib(idle["rss_kib"]), " MiB"),
            f"anon {mib(idle.get('anon_kib', 0)):.1f} + file {mib(idle.get('file_kib', 0)):.1f} MiB, {idle['threads']} threads", "", "<= 40 MiB",
            mib(idle["rss_kib"]) <= 40)
    fin = res.get("final")
    if fin and idle and "rss_kib" in fin:
        grow = mib(fin["rss_kib"] - idle["rss_kib"])
        add("RSS after all the load (settled)", fmt(mib(fin["rss_kib"]), " MiB"), fmt(mib(idle["rss_kib"]), " MiB") + " idle",
            f"{fin['rss_kib'] / idle['rss_kib']:.2f}x", "flat (<= idle + 10 MiB)", grow <= 10)
    o1, o2 = res.get("open_streams"), res.get("open_streams_2")
    if o1 and o2 and "after" in o1 and "after" in o2:
        a, b = o1["after"]["rss_kib"], o2["after"]["rss_kib"]
        add("RSS after a 2nd 1,000-stream round (growth per round)", fmt(mib(b), " MiB"), fmt(mib(a), " MiB") + " after 1st",
            f"{b / a:.2f}x", "flat (<= +5%)", b <= a * 1.05)
        add("peak RSS during the run (VmHWM)", fmt(mib(fin["hwm_kib"]), " MiB"), "", "", "report", None)
    st = res.get("startup")
    if st and "p50_ms" in st:
        add(f"start-up to first 200 on /health (median of {st['runs']})", fmt(st["p50_ms"], " ms"), f"{st['min_ms']:.1f}..{st['max_ms']:.1f} ms", "", "<= 100 ms",
            st["p50_ms"] <= 100)
    elif st:
        invalid.append(f"startup: {st.get('error')}")

    # (7) header trickle: CPU for one slowly sent header block
    tr = res.get("trickle")
    if tr and tr.get("runs"):
        big = max(tr["runs"], key=lambda r: r["kib"])
        small = min(tr["runs"], key=lambda r: r["kib"])
        ratio = big["cpu_ms"] / small["cpu_ms"] if small is not big and small["cpu_ms"] > 0 else None
        linear = big["kib"] / small["kib"] if small is not big else None
        add(f"header trickle: CPU for one {big['kib']} KiB head, 1 line/segment ({big['lines']:,} lines) -> {big['status'] or big['error']}",
            fmt(big["cpu_ms"], " ms", 0), f"{big['cpu_us_per_line']:.0f} us/line; {small['kib']} KiB: {small['cpu_ms']:.0f} ms" if ratio else "",
            f"{ratio:.1f}x for {linear:.0f}x bytes" if ratio else "", f"linear (<= {1.5 * linear:.0f}x)" if linear else "report",
            ratio <= 1.5 * linear if ratio else None)
        for r in tr["runs"]:
            if not r["status"]:
                invalid.append(f"trickle {r['kib']} KiB: no answer ({r['error']})")
    # (8) backpressure: streams whose clients read nothing
    bp = res.get("backpressure")
    if bp and bp.get("phases"):
        for ph in bp["phases"]:
            n = ph["n"]
            growth = mib(ph["peak_rss_kib"] - ph["before"]["rss_kib"])
            sent = (ph.get("upstream_bytes_sent") or 0) / 2**20
            add(f"backpressure: RSS growth, {n} stream{'s' if n > 1 else ''} not read for {ph['idle_measured_s']:.0f} s"
                + (" (STOPPED at the RSS cap)" if ph.get("capped") else ""),
                fmt(growth, " MiB"), f"{growth / n:.2f} MiB/stream, {ph['tail_mib_per_s']:+.1f} MiB/s at the end",
                f"upstream sent {sent / n:,.1f} MiB/stream", "<= 1 MiB/stream", growth / n <= 1.0)
            if ph.get("statuses", {}).get("200") != n:
                invalid.append(f"backpressure ({n} streams): statuses {ph.get('statuses')} (expected {n} x 200)")
        ph = bp["phases"][-1]
        settled, first = mib(ph["settled"]["rss_kib"]), mib(bp["phases"][0]["before"]["rss_kib"])
        up = ph.get("upstream_after_close", {})
        add("  after those clients hung up (settled 3 s)", fmt(settled, " MiB"), fmt(first, " MiB") + " before",
            f"upstream active {up.get('active', 'n/a')} after {ph['cancel_s']:.1f} s", "<= before + 10 MiB, 0 active",
            settled - first <= 10 and up.get("active") == 0)
    elif bp:
        invalid.append(f"backpressure: {bp.get('error')}")

    # (10) parallel drafts: TTFT with 3 drafts against 1
    dr = res.get("drafts")
    if dr and "ttft1_p50_ms" in dr:
        ratio = dr["ttft3_p50_ms"] / dr["ttft1_p50_ms"]
        add(f"3-draft stream TTFT p50 vs 1-draft ({dr['concurrency']} at a time, {dr['ok']}/{dr['streams']} ok)",
            fmt(dr["ttft3_p50_ms"], " ms"), fmt(dr["ttft1_p50_ms"], " ms") + " 1 draft", f"{ratio:.2f}x", "<= 1.2x (not 3x)", ratio <= 1.2)
        add("  p99: 3 drafts / 1 draft", fmt(dr["ttft3_p99_ms"], " ms"), fmt(dr["ttft1_p99_ms"], " ms"), "", "report", None)
    elif dr:
        invalid.append(f"drafts: {dr.get('error')}")

    https_rows = https_table(res, wrk_valid, invalid, fmt, met, mib)

    def print_rows(header, rows):
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        line = lambda r: "| " + " | ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)) + " |"
        print(line(header))
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for r in rows:
            print(line(r))

    print_rows(("metric", "proxy", "nginx/ideal", "ratio", "goal", "met?"), rows)
    if https_rows:
        print()
        print("https upstream (9): a second proxy process calling its upstreams over TLS (UPSTREAM_CA_FILE, the bench's CA);"
              " beside it the http proxy's figure from the same run")
        print_rows(("https metric", "proxy, https upstream", "nginx over TLS / reference", "ratio", "proxy, http upstream (same run)",
                    "goal", "met?"), https_rows)
    for msg in invalid:
        print(f"INVALID: {msg}")
    return 1 if invalid else 0


def https_table(res, wrk_valid, invalid, fmt, met, mib):
    """Rows of section (9): the https proxy against nginx making the same two calls over TLS, with the
    http proxy's figure of the same run beside each (`not run` when BENCH_ONLY left its section out)."""
    rows = []
    NOT_RUN = "not run"

    def add(metric, https, other, ratio, http, goal, ok, valid=True):
        rows.append((metric, https, other, ratio, http, goal, met(ok) if valid else "INVALID"))

    def x(a, b):
        return f"{a / b:.2f}x" if a is not None and b else ""

    def http_with_nginx(key_p, key_n, field, render):
        """The http proxy's figure, and its ratio to nginx's http figure, both from the same run."""
        p, n = res.get(key_p), res.get(key_n)
        if not p or field not in p:
            return NOT_RUN
        text = render(p[field])
        return f"{text} ({p[field] / n[field]:.2f}x nginx)" if n and n.get(field) else text

    fb = res.get("https_fallbacks", {}).get("fallbacks")
    if fb:
        invalid.append(f"https: the https proxy fell back to the draft {fb} times (a critique call over TLS failed): not 2 TLS calls each")
    # Non-streamed: the nginx upstream's TLS port; nginx over TLS as the yardstick.
    hp, hn = wrk_valid("https_pipeline_proxy"), wrk_valid("https_pipeline_nginx")
    if hp and hn:
        valid = hp.get("status", 0) == 0 and hn.get("status", 0) == 0 and not fb
        add("pipeline req/s (2 upstream calls over TLS, -c64)", fmt(hp["rps"], "", 0), fmt(hn["rps"], "", 0) + " nginx TLS",
            x(hp["rps"], hn["rps"]), http_with_nginx("pipeline_proxy", "pipeline_nginx", "rps", lambda v: fmt(v, "", 0)),
            ">= 0.8x nginx TLS", hp["rps"] >= 0.8 * hn["rps"], valid)
        add("pipeline p50 / p99 latency (-c64)", f"{hp['p50_us'] / 1000:.2f} / {hp['p99_us'] / 1000:.2f} ms",
            f"{hn['p50_us'] / 1000:.2f} / {hn['p99_us'] / 1000:.2f} ms", x(hp["p50_us"], hn["p50_us"]),
            (lambda p: f"{p['p50_us'] / 1000:.2f} / {p['p99_us'] / 1000:.2f} ms" if p and "p50_us" in p else NOT_RUN)(res.get("pipeline_proxy")),
            "report", None)
        if "cpu_us_per_req" in hp and "cpu_us_per_req" in hn:
            add("CPU per request, -c64 (server process only)", fmt(hp["cpu_us_per_req"], " us"), fmt(hn["cpu_us_per_req"], " us"),
                x(hp["cpu_us_per_req"], hn["cpu_us_per_req"]),
                http_with_nginx("pipeline_proxy", "pipeline_nginx", "cpu_us_per_req", lambda v: fmt(v, " us")),
                "<= 1.5x nginx TLS", hp["cpu_us_per_req"] <= 1.5 * hn["cpu_us_per_req"], valid)
            add("context switches per request, -c64", fmt(hp["ctx_per_req"], "", 2), fmt(hn["ctx_per_req"], "", 2),
                x(hp["ctx_per_req"], hn["ctx_per_req"]),
                http_with_nginx("pipeline_proxy", "pipeline_nginx", "ctx_per_req", lambda v: fmt(v, "", 2)), "report", None)
        if "upstream_conns_per_req" in hp and "upstream_conns_per_req" in hn:
            hpp, hpn = res.get("pipeline_proxy", {}), res.get("pipeline_nginx", {})
            add("upstream connections opened per request, -c64 (TLS handshakes)", fmt(hp["upstream_conns_per_req"], "", 3),
                fmt(hn["upstream_conns_per_req"], "", 3), "",
                f"{hpp['upstream_conns_per_req']:.3f} (nginx {hpn.get('upstream_conns_per_req', float('nan')):.3f})"
                if "upstream_conns_per_req" in hpp else NOT_RUN, "report", None)
    hh = wrk_valid("https_pipeline_nginx_head")
    if hp and hh:
        extra = []
        if "cpu_us_per_req" in hh:
            extra.append(f"CPU {hh['cpu_us_per_req']:.1f} us" + (f", proxy {hp['cpu_us_per_req'] / hh['cpu_us_per_req']:.2f}x" if "cpu_us_per_req" in hp else ""))
        if "upstream_conns_per_req" in hh:
            extra.append(f"{hh['upstream_conns_per_req']:.3f} conns/req")
        add("  same, nginx's first call as HEAD (both calls kept alive): req/s", fmt(hp["rps"], "", 0),
            fmt(hh["rps"], "", 0) + (f" ({'; '.join(extra)})" if extra else ""), x(hp["rps"], hh["rps"]), "", "report (stricter yardstick)", None,
            hh.get("status", 0) == 0)
    cp, cn = wrk_valid("https_c1_proxy"), wrk_valid("https_c1_nginx")
    if cp and cn:
        valid = cp.get("status", 0) == 0 and cn.get("status", 0) == 0 and not fb
        if "cpu_us_per_req" in cp and "cpu_us_per_req" in cn:
            add(f"CPU per request, -c1 ({cp.get('rounds', 1)} rounds, {cp['requests']:,} requests)", fmt(cp["cpu_us_per_req"], " us"),
                fmt(cn["cpu_us_per_req"], " us"), x(cp["cpu_us_per_req"], cn["cpu_us_per_req"]),
                http_with_nginx("c1_proxy", "c1_nginx", "cpu_us_per_req", lambda v: fmt(v, " us")),
                "<= 1.5x nginx TLS", cp["cpu_us_per_req"] <= 1.5 * cn["cpu_us_per_req"], valid)
        if "upstream_conns_per_req" in cp and "upstream_conns_per_req" in cn:
            add("upstream connections opened per request, -c1", fmt(cp["upstream_conns_per_req"], "", 3),
                fmt(cn["upstream_conns_per_req"], "", 3), "", "", "report", None)
        add("-c1 p50 latency (median of rounds)", fmt(cp["p50_us"] / 1000, " ms", 3), fmt(cn["p50_us"] / 1000, " ms", 3),
            x(cp["p50_us"], cn["p50_us"]), http_with_nginx("c1_proxy", "c1_nginx", "p50_us", lambda v: fmt(v / 1000, " ms", 3)), "report", None)
    # Streaming: the token-paced fake behind nginx's TLS (unbuffered). No nginx streaming yardstick: the reference is the http
    # proxy's own 64-stream TTFT p99 of this run (else the ideal's: a client calling the fake itself over plain http).
    s, hs = res.get("https_streams"), res.get("streams")
    if s and "ttft_p99_ms" in s:
        if hs and "ttft_p99_ms" in hs:
            ref, ref_label = hs["ttft_p99_ms"], "http proxy p99, same run (no nginx streaming ref)"
        else:
            ref, ref_label = s["ideal_p99_ms"], "ideal p99 (direct, plain http; http streams not run)"
        add(f"stream TTFT p99 ({s['concurrency']} streams, {s['ok']}/{s['streams']} ok)", fmt(s["ttft_p99_ms"], " ms"), f"{ref:.1f} ms {ref_label}",
            f"{s['ttft_p99_ms'] - ref:+.1f} ms", fmt(hs["ttft_p99_ms"], " ms") if hs and "ttft_p99_ms" in hs else NOT_RUN,
            "<= reference + 20 ms", s["ttft_p99_ms"] <= ref + 20 and s["problems"] == 0)
        add("stream TTFT p50 / excess p50 (vs ideal p50)", f"{s['ttft_p50_ms']:.1f} / {s['excess_p50_ms']:.2f} ms",
            f"ideal {s['ideal_p50_ms']:.1f} ms (direct, plain http)", x(s["ttft_p50_ms"], s["ideal_p50_ms"]),
            f"{hs['ttft_p50_ms']:.1f} / {hs['excess_p50_ms']:.2f} ms" if hs and "ttft_p50_ms" in hs else NOT_RUN, "report", None)
        add("client events per upstream delta (min..max)", f"{s['events_per_delta_min']:.2f}..{s['events_per_delta_max']:.2f}", "1.00", "",
            f"{hs['events_per_delta_min']:.2f}..{hs['events_per_delta_max']:.2f}" if hs and "events_per_delta_min" in hs else NOT_RUN,
            "1 event per delta", s["events_per_delta_min"] == 1.0 and s["events_per_delta_max"] == 1.0)
        add(f"inter-event gap p50 / p99 (upstream pace {s['chunk_delay_ms']} ms)", f"{s['gap_p50_ms']:.2f} / {s['gap_p99_ms']:.2f} ms",
            f"{s['direct_gap_p50_ms']:.2f} / {s['direct_gap_p99_ms']:.2f} ms direct (plain http)", x(s["gap_p99_ms"], s["direct_gap_p99_ms"]),
            f"{hs['gap_p50_ms']:.2f} / {hs['gap_p99_ms']:.2f} ms" if hs and "gap_p50_ms" in hs else NOT_RUN, "report", None)
        ph = res.get("https_streams_plain_hop")
        if ph and "ttft_p99_ms" in ph:
            add("  like for like: same proxy, same nginx hop, no TLS: TTFT p50 / p99", f"{s['ttft_p50_ms']:.1f} / {s['ttft_p99_ms']:.1f} ms",
                f"{ph['ttft_p50_ms']:.1f} / {ph['ttft_p99_ms']:.1f} ms without TLS", f"{s['ttft_p99_ms'] - ph['ttft_p99_ms']:+.1f} ms (TLS)", "", "report", None)
        if s["problems"]:
            invalid.append(f"https_streams: {s['problems']} failed streams, e.g. {s['problem_samples']}")
    elif s:
        invalid.append(f"https_streams: {s.get('error')} {s.get('problems')}")
    o, ho = res.get("https_open_streams"), res.get("open_streams")
    if o and "during" in o:
        rss = mib(o["during"]["rss_kib"])
        add(f"RSS, {o['opened']:,}/{o['n']:,} open https streams (upstream active {o.get('upstream_active')})", fmt(rss, " MiB"),
            "", "", fmt(mib(ho["during"]["rss_kib"]), " MiB") if ho and "during" in ho else NOT_RUN,
            "<= 150 MiB", rss <= 150 and o["opened"] == o["n"])
        add("threads with those streams open", str(o["during"]["threads"]), f"{o['before']['threads']} before", "",
            str(ho["during"]["threads"]) if ho and "during" in ho else NOT_RUN, "no thread per stream",
            o["during"]["threads"] <= o["before"]["threads"] + 8)
        up = o.get("upstream_after_close", {})
        hup = (ho or {}).get("upstream_after_close", {})
        add("upstream streams left open 10 s after clients left", str(up.get("active", "n/a")), f"{up.get('disconnects', 'n/a')} cancelled",
            f"{o['cancel_s']:.2f} s", str(hup.get("active", "n/a")) if ho else NOT_RUN, "0", up.get("active") == 0)
        if o.get("client_errors") or o.get("non200"):
            invalid.append(f"https_open_streams: {o.get('client_errors')} client errors {o.get('client_error_samples')}, {o.get('non200')} non-200")
    elif o:
        invalid.append(f"https_open_streams: {o.get('error')}")
    idle, fin = res.get("https_idle"), res.get("https_final")
    hidle, hfin = res.get("idle"), res.get("final")
    if idle and "rss_kib" in idle:
        add("idle RSS (before any load)", fmt(mib(idle["rss_kib"]), " MiB"),
            f"anon {mib(idle.get('anon_kib', 0)):.1f} + file {mib(idle.get('file_kib', 0)):.1f} MiB, {idle['threads']} threads", "",
            fmt(mib(hidle["rss_kib"]), " MiB") if hidle and "rss_kib" in hidle else NOT_RUN, "report", None)
    if fin and idle and "rss_kib" in fin:
        grow = mib(fin["rss_kib"] - idle["rss_kib"])
        http = NOT_RUN
        if hfin and hidle and "rss_kib" in hfin:
            http = f"{mib(hfin['rss_kib']):.1f} MiB ({mib(hfin['rss_kib'] - hidle['rss_kib']):+.1f} over idle; after its sections)"
        add("RSS after the https load (settled 3 s)", fmt(mib(fin["rss_kib"]), " MiB"), f"{mib(idle['rss_kib']):.1f} MiB idle ({grow:+.1f})",
            f"{fin['rss_kib'] / idle['rss_kib']:.2f}x", http, "<= idle + 10 MiB", grow <= 10)
        add("peak RSS of the https proxy (VmHWM)", fmt(mib(fin["hwm_kib"]), " MiB"), "", "",
            fmt(mib(hfin["hwm_kib"]), " MiB") if hfin and "hwm_kib" in hfin else NOT_RUN, "report", None)
    return rows


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 64
    cmd, args = argv[1], argv[2:]
    if cmd == "ports":
        cmd_ports(*args)
        return 0
    if cmd == "proc":
        emit(proc_status(args[0]))
        return 0
    if cmd == "cpu":
        emit(tree_cpu(args[0]))
        return 0
    if cmd == "accepts":  # -1 when nginx does not say (the figure is then left out, the run goes on)
        try:
            status, body = http_request_blocking(int(args[0]), "GET", "/__nginx_status")
            # "Active connections: 1 \nserver accepts handled requests\n 12 12 30 \n..."
            print(int(body.split(b"\n")[2].split()[0]) if status == 200 else -1)
        except (OSError, ValueError, IndexError):
            print(-1)
        return 0
    if cmd == "merge-conns":  # WRK_JSON BEFORE AFTER: nginx's accepts counter moved by the run, and by AFTER's own request
        w, a, b = json.loads(args[0]), int(args[1]), int(args[2])
        if a >= 0 and b >= 0 and w.get("requests"):
            w["upstream_conns"] = b - a - 1
            w["upstream_conns_per_req"] = (b - a - 1) / w["requests"]
        emit(w)
        return 0
    if cmd == "merge-cpu":  # WRK_JSON BEFORE AFTER: the wrk result with the CPU spent meanwhile
        w, a, b = (json.loads(x) for x in args)
        if "requests" in w and w["requests"]:
            w["cpu_us_per_req"] = (b["cpu_s"] - a["cpu_s"]) * 1e6 / w["requests"]
            w["ctx_per_req"] = (b["ctx"] - a["ctx"]) / w["requests"]
        emit(w)
        return 0
    table = {"wait-http": cmd_wait_http, "startup": cmd_startup, "idle-conns": cmd_idle_conns,
             "streams": cmd_streams, "drafts": cmd_drafts, "open-streams": cmd_open_streams, "backpressure": cmd_backpressure,
             "trickle": cmd_trickle, "table": cmd_table}
    return table[cmd](*args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
