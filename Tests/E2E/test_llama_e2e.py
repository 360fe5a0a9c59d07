"""End-to-end: the proxy in front of a real llama.cpp server (Gemma 3 270M), driven by the openai SDK.

Run through `make e2e` (scripts/e2e.sh), which starts both servers and passes their addresses in
E2E_* environment variables. Gemma 3 270M is a base model: its text is nonsense, but at
temperature 0 it is deterministic, so answers can be compared exactly.

Two kinds of tests:
- through the proxy: what a client sees;
- directly against llama.cpp: its quirks that the proxy must cope with. If one of these fails,
  the server changed and the proxy's handling (and the notes) need a second look.
"""

import json
import os
import re
import time

import httpx
import openai
import pytest


def _env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run these tests through `make e2e` (scripts/e2e.sh)")
    return value


PROXY_URL = _env("E2E_PROXY_URL")
LLAMA_URL = _env("E2E_LLAMA_URL")
MODEL = _env("E2E_MODEL")
PROXY_MODEL = _env("E2E_PROXY_MODEL")
CRITIQUE_PROMPT = _env("E2E_CRITIQUE_PROMPT")
N_CTX = int(_env("E2E_N_CTX"))
PROXY_LOG = _env("E2E_PROXY_LOG")
FIGURES = os.environ.get("E2E_FIGURES")

MAX_TOKENS = 24
MESSAGES = [{"role": "user", "content": "Name three colours of the rainbow."}]
# A prompt past the context window (each "hello " is one token for Gemma's tokenizer, give or take).
OVERFLOW_MESSAGES = [{"role": "user", "content": "hello " * (N_CTX + 500)}]
# "Promptly": a tiny request on an idle server takes well under a second here.
PROMPT_SECONDS = 5.0


@pytest.fixture(scope="session")
def figures():
    data = {}
    yield data
    if FIGURES and data:
        with open(FIGURES, "w") as f:
            for key, value in data.items():
                f.write(f"{key + ':':<34}{value}\n")


@pytest.fixture(scope="session")
def proxy():
    return openai.OpenAI(base_url=f"{PROXY_URL}/v1", api_key="unused", timeout=120, max_retries=0)


@pytest.fixture(scope="session")
def llama():
    return openai.OpenAI(base_url=f"{LLAMA_URL}/v1", api_key="unused", timeout=120, max_retries=0)


def tiny_request_seconds(base_url, model):
    """Seconds a 4-token non-streamed request takes: long if the server is still busy elsewhere."""
    started = time.monotonic()
    r = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "temperature": 0},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    return time.monotonic() - started


DONE_LINE = re.compile(r" done status=(\d+)\b.*?\btotal_ms=(\d+)")


def proxy_log_for(request_id, timeout=5.0):
    """The proxy's log lines for one request (they carry req=<id>), once its `done` line is there."""
    deadline = time.monotonic() + timeout
    while True:
        with open(PROXY_LOG, errors="replace") as f:
            lines = [line.rstrip("\n") for line in f if f"req={request_id} " in line]
        if any(DONE_LINE.search(line) for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def done_line(request_id):
    lines = proxy_log_for(request_id)
    done = [line for line in lines if DONE_LINE.search(line)]
    assert len(done) == 1, f"expected one done line for req={request_id}:\n" + "\n".join(lines)
    status, total_ms = DONE_LINE.search(done[0]).groups()
    return lines, done[0], int(status), int(total_ms)


# --------------------------------------------------------------------------------------------
# llama.cpp's own behaviour, checked directly (the proxy relies on knowing these).
# --------------------------------------------------------------------------------------------


def test_llama_direct_invalid_json_is_plain_text_500():
    r = httpx.post(
        f"{LLAMA_URL}/v1/chat/completions",
        content=b'{"model": "x", "messages": [',
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)


def test_llama_direct_streamed_overflow_is_empty_200():
    started = time.monotonic()
    with httpx.stream(
        "POST",
        f"{LLAMA_URL}/v1/chat/completions",
        json={"model": MODEL, "messages": OVERFLOW_MESSAGES, "stream": True, "max_tokens": 8},
        timeout=60,
    ) as r:
        body = r.read()
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert body.strip() == b"", body[:300]
    assert time.monotonic() - started < 30


def test_llama_direct_stream_ignores_include_usage(llama):
    stream = llama.chat.completions.create(
        model=MODEL, messages=MESSAGES, temperature=0, max_tokens=8,
        stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks, "no chunks"
    assert all(getattr(c, "usage", None) is None for c in chunks)


def test_llama_direct_rejects_a_request_id_that_is_not_a_uuid():
    # llama-cpp-python's server validates X-Request-Id as a UUID (starlette-context's
    # RequestIdPlugin): anything else is a 400 with an empty body. A proxy that forwards its own
    # short ids upstream therefore fails every request.
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    r = httpx.post(f"{LLAMA_URL}/v1/chat/completions", json=body, headers={"X-Request-Id": "0123456789abcdef"}, timeout=30)
    assert r.status_code == 400
    assert r.content == b""
    r = httpx.post(
        f"{LLAMA_URL}/v1/chat/completions", json=body,
        headers={"X-Request-Id": "0f8fad5b-d9cb-469f-a165-70867728950e"}, timeout=30,
    )
    assert r.status_code == 200, r.text


# --------------------------------------------------------------------------------------------
# Through the proxy.
# --------------------------------------------------------------------------------------------


def test_models_lists_proxy_model_first():
    r = httpx.get(f"{PROXY_URL}/v1/models", timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids and ids[0] == PROXY_MODEL, ids
    assert all(m["object"] == "model" for m in body["data"])


def test_invalid_json_is_400_from_the_proxy():
    r = httpx.post(
        f"{PROXY_URL}/v1/chat/completions",
        content=b'{"model": "x", "messages": [',
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 400, (r.status_code, r.text)
    error = r.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert "param" in error and "code" in error


def test_non_stream_answer(proxy, figures):
    started = time.monotonic()
    raw = proxy.chat.completions.with_raw_response.create(
        model=PROXY_MODEL, messages=MESSAGES, temperature=0, max_tokens=MAX_TOKENS
    )
    figures["proxy non-stream"] = f"{time.monotonic() - started:.2f} s (2 stages x {MAX_TOKENS} tokens max)"
    completion = raw.parse()
    assert raw.headers.get("x-request-id")
    assert raw.headers.get("x-hydra-critique") != "fallback", "the critique failed and the draft was returned"
    assert completion.object == "chat.completion"
    assert completion.id
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")


def test_client_request_id_is_kept_and_does_not_reach_llama_as_is():
    # A client's own trace id (not a UUID) must not make the upstream reject the request.
    r = httpx.post(
        f"{PROXY_URL}/v1/chat/completions",
        json={"model": PROXY_MODEL, "messages": MESSAGES, "temperature": 0, "max_tokens": 4},
        headers={"X-Request-Id": "e2e-trace-1"},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    assert r.headers.get("x-request-id") == "e2e-trace-1"
    assert r.json()["choices"][0]["message"]["content"] is not None


def test_stream_is_well_formed_and_equals_non_stream(proxy, figures):
    expected = proxy.chat.completions.create(
        model=PROXY_MODEL, messages=MESSAGES, temperature=0, max_tokens=MAX_TOKENS
    ).choices[0].message.content

    started = time.monotonic()
    first_content_at = None
    stream = proxy.chat.completions.create(
        model=PROXY_MODEL, messages=MESSAGES, temperature=0, max_tokens=MAX_TOKENS, stream=True
    )
    chunks = []
    for chunk in stream:
        chunks.append(chunk)
        if first_content_at is None and chunk.choices and chunk.choices[0].delta.content:
            first_content_at = time.monotonic() - started
    total = time.monotonic() - started
    figures["proxy stream"] = f"first content {first_content_at:.2f} s, total {total:.2f} s"

    assert chunks, "empty stream"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1, "chunk ids differ within one stream"
    assert chunks[0].choices and chunks[0].choices[0].delta.role == "assistant", chunks[0]
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert content_chunks, "no content deltas"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes in (["stop"], ["length"]), finishes
    finish_index = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].finish_reason)
    assert all(not (c.choices and c.choices[0].delta.content) for c in chunks[finish_index + 1:])

    streamed = "".join(c.choices[0].delta.content for c in content_chunks)
    assert streamed.strip()
    assert streamed == expected


def test_non_stream_usage_is_the_sum_of_both_stages(proxy, llama):
    # What the proxy does, done by hand against llama.cpp: primary, then critique on the draft.
    primary = llama.chat.completions.create(
        model=MODEL, messages=MESSAGES, temperature=0, max_tokens=MAX_TOKENS
    )
    draft = primary.choices[0].message.content
    critique = llama.chat.completions.create(
        model=MODEL,
        messages=MESSAGES + [
            {"role": "assistant", "content": draft},
            {"role": "user", "content": CRITIQUE_PROMPT},
        ],
        temperature=0,
        max_tokens=MAX_TOKENS,
    )
    assert primary.usage and critique.usage, "llama.cpp reports usage on non-streamed answers"

    via_proxy = proxy.chat.completions.create(
        model=PROXY_MODEL, messages=MESSAGES, temperature=0, max_tokens=MAX_TOKENS
    )
    assert via_proxy.choices[0].message.content == critique.choices[0].message.content
    assert via_proxy.usage is not None
    assert via_proxy.usage.prompt_tokens == primary.usage.prompt_tokens + critique.usage.prompt_tokens
    assert via_proxy.usage.completion_tokens == primary.usage.completion_tokens + critique.usage.completion_tokens
    assert via_proxy.usage.total_tokens == primary.usage.total_tokens + critique.usage.total_tokens


def test_stream_with_include_usage_when_llama_reports_none(proxy):
    # llama.cpp never sends usage in streams: the proxy must still finish the stream cleanly and
    # must not invent token counts it never saw.
    stream = proxy.chat.completions.create(
        model=PROXY_MODEL, messages=MESSAGES, temperature=0, max_tokens=MAX_TOKENS,
        stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)
    invented = [c.usage for c in chunks if c.usage is not None]
    assert not invented, f"usage that llama.cpp never reported: {invented}"
    # And the proxy still serves.
    assert proxy.chat.completions.create(
        model=PROXY_MODEL, messages=MESSAGES, temperature=0, max_tokens=4
    ).choices[0].message.content is not None


def test_stage_log_lines(proxy):
    raw = proxy.chat.completions.with_raw_response.create(
        model=PROXY_MODEL, messages=MESSAGES, temperature=0, max_tokens=8, stream=True
    )
    request_id = raw.headers["x-request-id"]
    for _ in raw.parse():
        pass
    lines, done, status, _ = done_line(request_id)
    joined = "\n".join(lines)
    for stage in ("primary started", "primary first token", "critique started", "critique first token"):
        assert stage in joined, f"missing {stage!r} in the proxy log for req={request_id}:\n{joined}"
    order = [joined.index(stage) for stage in ("primary started", "critique started", " done ")]
    assert order == sorted(order), joined
    assert status == 200, done
    for field in ("primary_ms=", "critique_ms=", "total_ms="):
        assert field in done, done


# A prompt and length that keep Gemma generating for many seconds if nobody stops it.
LONG_MESSAGES = [{"role": "user", "content": "Tell me a very long story about a lighthouse keeper."}]
LONG_TOKENS = 1500  # ~30 s at ~45 tok/s


def test_long_generation_really_is_long():
    """Control for the disconnect tests: without a cancel, this request keeps llama.cpp busy."""
    with httpx.stream(
        "POST",
        f"{LLAMA_URL}/v1/chat/completions",
        json={"model": MODEL, "messages": LONG_MESSAGES, "stream": True, "temperature": 0, "max_tokens": LONG_TOKENS},
        timeout=60,
    ) as r:
        assert r.status_code == 200
        started = time.monotonic()
        finished = False
        for line in r.iter_lines():
            if '"finish_reason":"' in line.replace(" ", "") or line == "data: [DONE]":
                finished = True
                break
            if time.monotonic() - started > 3:
                break
    assert not finished, "Gemma stopped within 3 s: the disconnect tests below would prove nothing"
    # llama.cpp cancels a streamed request whose client left: it is idle again at once.
    assert tiny_request_seconds(LLAMA_URL, MODEL) < PROMPT_SECONDS


def _hang_up_after(predicate, max_tokens, hold_seconds=0.0):
    """Streams LONG_MESSAGES through the proxy, reads until predicate(line), stays connected for
    hold_seconds without reading, then closes the connection. Returns (request id, lines seen)."""
    seen = []
    with httpx.Client(timeout=120) as client:
        with client.stream(
            "POST",
            f"{PROXY_URL}/v1/chat/completions",
            json={
                "model": PROXY_MODEL, "messages": LONG_MESSAGES, "stream": True,
                "temperature": 0, "max_tokens": max_tokens,
            },
        ) as r:
            assert r.status_code == 200
            request_id = r.headers["x-request-id"]
            # Hold the iterator: a `for` over a temporary one would close the response at `break`.
            lines = r.iter_lines()
            for line in lines:
                seen.append(line)
                if predicate(line):
                    break
            time.sleep(hold_seconds)
    return request_id, seen


def _served_promptly(proxy):
    started = time.monotonic()
    answer = proxy.chat.completions.create(model=PROXY_MODEL, messages=MESSAGES, temperature=0, max_tokens=4)
    assert answer.choices[0].message.content is not None
    return time.monotonic() - started


def test_disconnect_during_primary_frees_llama(proxy, figures):
    # The client stays 2 s while the primary stage generates (1,500 tokens: ~30 s of work), then leaves.
    request_id, seen = _hang_up_after(lambda line: line.startswith("data:"), LONG_TOKENS, hold_seconds=2.0)
    hung_up = time.monotonic()
    waited = tiny_request_seconds(LLAMA_URL, MODEL)
    figures["hang-up in primary: llama idle"] = f"after {time.monotonic() - hung_up:.2f} s"
    assert waited < PROMPT_SECONDS, f"llama.cpp still busy {waited:.1f} s after the client left"
    lines, done, status, total_ms = done_line(request_id)
    assert status == 499, done
    assert total_ms >= 1500, f"the proxy saw the client leave before it did: {done}"
    assert not any("critique started" in line for line in lines), "the test meant to leave during the primary"
    assert _served_promptly(proxy) < PROMPT_SECONDS


def test_disconnect_during_critique_frees_llama(proxy, figures):
    # 400 tokens: ~9 s of primary, then the critique streams; leave at its first content delta.
    def first_content(line):
        if not line.startswith("data:") or line == "data: [DONE]":
            return False
        chunk = json.loads(line[5:])
        return bool(chunk.get("choices") and chunk["choices"][0].get("delta", {}).get("content"))

    request_id, seen = _hang_up_after(first_content, 400)
    assert seen and first_content(seen[-1]), "the stream ended before any content"
    hung_up = time.monotonic()
    waited = tiny_request_seconds(LLAMA_URL, MODEL)
    figures["hang-up in critique: llama idle"] = f"after {time.monotonic() - hung_up:.2f} s"
    assert waited < PROMPT_SECONDS, f"llama.cpp still busy {waited:.1f} s after the client left"
    lines, done, status, _ = done_line(request_id)
    assert status == 499, done
    assert any("critique first token" in line for line in lines), lines
    assert _served_promptly(proxy) < PROMPT_SECONDS


def _short_request_works(proxy, stream):
    """Precondition for the overflow tests: the same request, short, succeeds."""
    answer = proxy.chat.completions.create(
        model=PROXY_MODEL, messages=MESSAGES, temperature=0, max_tokens=4, stream=stream
    )
    if stream:
        assert "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
    else:
        assert answer.choices[0].message.content


def test_streamed_context_overflow_is_a_clear_error(proxy):
    # llama.cpp answers 200 and an empty body; the client must get an error, not a hang or "".
    _short_request_works(proxy, stream=True)
    started = time.monotonic()
    with pytest.raises(openai.APIError):
        stream = proxy.chat.completions.create(
            model=PROXY_MODEL, messages=OVERFLOW_MESSAGES, temperature=0, max_tokens=8, stream=True
        )
        for _ in stream:
            pass
    assert time.monotonic() - started < 30


def test_non_streamed_context_overflow_is_a_clear_error(proxy):
    _short_request_works(proxy, stream=False)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        proxy.chat.completions.create(
            model=PROXY_MODEL, messages=OVERFLOW_MESSAGES, temperature=0, max_tokens=8
        )
    # llama.cpp says 400 context_length_exceeded here; the client should learn that much.
    assert caught.value.status_code == 400, caught.value
    assert "context length" in caught.value.message, caught.value.message
    assert time.monotonic() - started < 30


def test_throughput_figures(llama, figures):
    started = time.monotonic()
    completion = llama.chat.completions.create(
        model=MODEL, messages=LONG_MESSAGES, temperature=0, max_tokens=128
    )
    elapsed = time.monotonic() - started
    tokens = completion.usage.completion_tokens
    assert tokens > 0
    figures["llama direct"] = f"{tokens / elapsed:.1f} tok/s ({tokens} tokens in {elapsed:.2f} s, 1 thread)"


# --------------------------------------------------------------------------------------------
# Parallel drafts (#17) and tool turns in the critique (#16), against the real server.
# --------------------------------------------------------------------------------------------


def test_three_draft_pipeline(proxy, figures):
    """Three drafts (llama.cpp serves them one after another behind its lock), merged by the critique."""
    started = time.monotonic()
    raw = proxy.chat.completions.with_raw_response.create(
        model=PROXY_MODEL, messages=MESSAGES, temperature=0, max_tokens=MAX_TOKENS,
        extra_body={"hydra": {"drafts": 3}},
    )
    figures["proxy 3-draft non-stream"] = f"{time.monotonic() - started:.2f} s (3 drafts + merge x {MAX_TOKENS} tokens max)"
    completion = raw.parse()
    assert raw.headers.get("x-hydra-critique") != "fallback", "the merge critique failed and a draft was returned"
    assert isinstance(completion.choices[0].message.content, str) and completion.choices[0].message.content.strip()
    hydra = (completion.model_extra or {}).get("hydra")
    assert hydra and hydra["critique"] == "applied", hydra
    assert hydra["drafts"] == {"requested": 3, "written": 3}, hydra
    # Usage: three drafts and the critique, all reported by llama.cpp.
    assert completion.usage and completion.usage.completion_tokens > 0
    lines, done, status, _ = done_line(raw.headers["x-request-id"])
    joined = "\n".join(lines)
    for i in (1, 2, 3):
        assert f"draft {i}/3 done" in joined, joined
    assert status == 200, done

    stream = proxy.chat.completions.create(
        model=PROXY_MODEL, messages=MESSAGES, temperature=0, max_tokens=MAX_TOKENS, stream=True,
        extra_body={"hydra": {"drafts": 3, "show_draft": "reasoning"}},
    )
    reasoning, content, final = "", "", None
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            content += delta.content or ""
            if chunk.choices[0].finish_reason:
                final = chunk
    for i in (1, 2, 3):
        assert f"— draft {i} of 3" in reasoning, reasoning
    assert content.strip(), "the merged answer is empty"
    assert final is not None and (final.model_extra or {}).get("hydra", {}).get("critique") == "applied"


# llama-cpp-python rejects `content: null` on an assistant message (a 500 listing 7 validation
# errors; see the direct test below), so this conversation sends "" as some clients do.
TOOL_CONVERSATION = [
    {"role": "user", "content": "What is the weather in Oslo?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "-3 C and snowing"},
]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def _prompt_tokens(messages, **extra):
    r = httpx.post(f"{LLAMA_URL}/v1/chat/completions", timeout=120, json={
        "model": MODEL, "messages": messages, "max_tokens": 1, "temperature": 0, **extra})
    assert r.status_code == 200, r.text
    return r.json()["usage"]["prompt_tokens"]


def test_llama_direct_drops_structured_tool_turns_but_reads_them_as_text():
    """Why the critique gets tool turns as text: llama.cpp's gemma template accepts `tool_calls`
    and `role: tool` (with or without `tools` + tool_choice none) but silently drops them, so a
    critique sent the structured turns would never see the tool's result. As text it does."""
    question = TOOL_CONVERSATION[:1]
    structured = _prompt_tokens(TOOL_CONVERSATION)
    with_tools = _prompt_tokens(TOOL_CONVERSATION, tools=TOOLS, tool_choice="none")
    as_text = _prompt_tokens(question + [
        {"role": "assistant", "content": "[called tool get_weather with arguments {\"city\": \"Oslo\"}]"},
        {"role": "user", "content": "[result of tool get_weather]\n-3 C and snowing"}])
    alone = _prompt_tokens(question)
    assert structured - alone <= 4 and with_tools - alone <= 4, (alone, structured, with_tools)
    assert as_text - alone >= 15, (alone, as_text)
    # And `content: null` on the assistant's tool-call turn (what the openai SDK sends) is a 500.
    null_content = [dict(m) for m in TOOL_CONVERSATION]
    null_content[1]["content"] = None
    r = httpx.post(f"{LLAMA_URL}/v1/chat/completions", timeout=120, json={
        "model": MODEL, "messages": null_content, "max_tokens": 1})
    assert r.status_code == 500 and "validation error" in r.text, r.text


def test_tool_round_trip_is_critiqued_through_the_proxy(proxy):
    """After a tool round-trip the critique request carries the tool turns as text; llama.cpp
    accepts it and the critique's answer comes back (not the fallback)."""
    raw = proxy.chat.completions.with_raw_response.create(
        model=PROXY_MODEL, messages=TOOL_CONVERSATION, tools=TOOLS, temperature=0, max_tokens=MAX_TOKENS,
    )
    completion = raw.parse()
    assert raw.headers.get("x-hydra-critique") == "applied", raw.headers
    hydra = (completion.model_extra or {}).get("hydra")
    assert hydra and hydra["critique"] == "applied", hydra
    assert completion.choices[0].message.content is not None
    _, done, status, _ = done_line(raw.headers["x-request-id"])
    assert status == 200, done
    assert "outcome=fallback" not in done, done
