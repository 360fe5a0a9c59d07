"""The official `openai` Python SDK against the proxy (sync and async), with the fake upstream
scripted per test."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from compat_helpers import (CRITIQUE, CRITIQUE_PROMPT, CRITIQUE_USAGE, DRAFT, FINAL, PRIMARY, PRIMARY_USAGE,
                            PROXY_KEY, SUMMED_USAGE, TIMEOUT, UPSTREAM_KEY, numbers_typed, run_with_deadline,
                            standard_scripts)

USER = [{"role": "user", "content": "Write hello world in Python."}]


def client(proxy, **kw) -> openai.OpenAI:
    kw.setdefault("api_key", "x")
    return openai.OpenAI(base_url=proxy.v1, timeout=TIMEOUT, max_retries=0, **kw)


def aclient(proxy, **kw) -> openai.AsyncOpenAI:
    kw.setdefault("api_key", "x")
    return openai.AsyncOpenAI(base_url=proxy.v1, timeout=TIMEOUT, max_retries=0, **kw)


def collect(stream):
    """Iterate an SDK stream to the end, failing (not hanging) past the deadline."""
    return run_with_deadline(lambda: list(stream), TIMEOUT, on_timeout=stream.close)


def stream_text(chunks) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# ------------------------------------------------------------------------------------------------
# Happy paths

@pytest.mark.no_upstream
def test_models_list_names_the_proxy_first(proxy):
    models = client(proxy).models.list()
    ids = [m.id for m in models.data]
    assert ids and ids[0] == "hydracodedone", ids


def test_non_stream_returns_the_critique_answer(proxy, fake):
    standard_scripts(fake)
    r = client(proxy).chat.completions.create(model="my-client-model", messages=USER)
    assert r.choices[0].message.content == FINAL
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason == "stop"
    assert r.object == "chat.completion"
    assert r.model == "my-client-model", "response model must echo what the client asked"
    assert r.id.startswith("chatcmpl-"), r.id
    assert len(fake.requests()) == 2


def test_non_stream_usage_is_the_sum_of_both_stages(proxy, fake):
    standard_scripts(fake)
    r = client(proxy).chat.completions.create(model="hydracodedone", messages=USER)
    assert r.usage is not None
    assert r.usage.prompt_tokens == SUMMED_USAGE["prompt_tokens"]
    assert r.usage.completion_tokens == SUMMED_USAGE["completion_tokens"]
    assert r.usage.total_tokens == SUMMED_USAGE["total_tokens"]


def test_critique_request_is_original_messages_plus_draft_plus_prompt(proxy, fake):
    standard_scripts(fake)
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Second question, ünïcode ✓ 漢字"},
    ]
    r = client(proxy).chat.completions.create(model="hydracodedone", messages=messages)
    assert r.choices[0].message.content == FINAL
    recorded = fake.requests()
    assert [q["body"]["model"] for q in recorded] == [PRIMARY, CRITIQUE]
    primary, critique = recorded[0]["body"], recorded[1]["body"]
    assert primary["messages"] == messages
    assert critique["messages"] == messages + [
        {"role": "assistant", "content": DRAFT},
        {"role": "user", "content": CRITIQUE_PROMPT},
    ]
    for q in recorded:
        assert q["path"].endswith("/v1/chat/completions"), q["path"]
        assert q["headers"].get("authorization") == f"Bearer {UPSTREAM_KEY}", q["headers"]


def test_stream_sync(proxy, fake):
    standard_scripts(fake)
    stream = client(proxy).chat.completions.create(model="my-client-model", messages=USER, stream=True)
    chunks = collect(stream)
    assert stream_text(chunks) == FINAL
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-")
    assert {c.model for c in chunks} == {"my-client-model"}
    assert {c.created for c in chunks} == {chunks[0].created}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert all(c.usage is None for c in chunks), "usage chunk without stream_options.include_usage"


def test_stream_include_usage_reports_summed_usage_last(proxy, fake):
    standard_scripts(fake)
    stream = client(proxy).chat.completions.create(
        model="hydracodedone", messages=USER, stream=True, stream_options={"include_usage": True})
    chunks = collect(stream)
    assert stream_text(chunks) == FINAL
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1, f"expected one usage chunk, got {len(usage_chunks)}"
    last = chunks[-1]
    assert last.usage is not None and last.choices == [], "usage chunk must be last, with choices []"
    assert last.usage.prompt_tokens == SUMMED_USAGE["prompt_tokens"]
    assert last.usage.completion_tokens == SUMMED_USAGE["completion_tokens"]
    assert last.usage.total_tokens == SUMMED_USAGE["total_tokens"]


def test_async_non_stream_and_stream(proxy, fake):
    standard_scripts(fake)

    async def main():
        async with aclient(proxy) as c:
            r = await c.chat.completions.create(model="hydracodedone", messages=USER)
            stream = await c.chat.completions.create(
                model="hydracodedone", messages=USER, stream=True, stream_options={"include_usage": True})
            chunks = [chunk async for chunk in stream]
            return r, chunks

    r, chunks = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))
    assert r.choices[0].message.content == FINAL
    assert stream_text(chunks) == FINAL
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == SUMMED_USAGE["total_tokens"]
    assert len(fake.requests()) == 4


def test_async_concurrent_requests(proxy, fake):
    standard_scripts(fake, chunk_delay_ms=20)

    async def main():
        async with aclient(proxy) as c:
            async def one(i):
                if i % 2:
                    s = await c.chat.completions.create(model=f"m{i}", messages=USER, stream=True)
                    return i, "".join([ch.choices[0].delta.content or "" async for ch in s if ch.choices])
                r = await c.chat.completions.create(model=f"m{i}", messages=USER)
                return i, r.choices[0].message.content
            return await asyncio.gather(*(one(i) for i in range(8)))

    results = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))
    assert [text for _, text in results] == [FINAL] * 8
    assert len(fake.requests()) == 16


def test_with_raw_response_headers(proxy, fake):
    standard_scripts(fake)
    c = client(proxy)
    raw = c.chat.completions.with_raw_response.create(model="hydracodedone", messages=USER)
    assert raw.status_code == 200
    rid = raw.headers.get("x-request-id")
    assert rid, f"no X-Request-Id header: {dict(raw.headers)}"
    assert raw.headers.get("content-type", "").startswith("application/json")
    assert raw.headers.get("x-hydra-critique") != "fallback", "fallback reported although the critique worked"
    assert raw.parse().choices[0].message.content == FINAL

    raw2 = c.chat.completions.with_raw_response.create(model="hydracodedone", messages=USER, stream=True)
    assert raw2.headers.get("content-type", "").startswith("text/event-stream")
    rid2 = raw2.headers.get("x-request-id")
    assert rid2 and rid2 != rid, "request ids must differ between requests"
    assert stream_text(collect(raw2.parse())) == FINAL


def test_request_fields_reach_the_primary_unchanged_via_sdk(proxy, fake):
    standard_scripts(fake)
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather für a city ☀",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    response_format = {"type": "json_schema", "json_schema": {
        "name": "answer", "strict": True,
        "schema": {"type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"],
                   "additionalProperties": False}}}
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "What is in this image? 🖼️ ñ"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
    ]}]
    extra = {"x_vendor_option": {"nested": [1, 1.0, -0.5, "é", None, True], "big": 9007199254740993},
             "top_k": 40, "repeat_penalty": 1.1}
    c = client(proxy)
    r = c.chat.completions.create(
        model="hydracodedone", messages=messages, tools=tools, tool_choice="auto",
        response_format=response_format, temperature=1.0, top_p=1, max_tokens=64, seed=7,
        user="someone", metadata={"k": "v"}, extra_body=extra)
    assert r.choices[0].message.content == FINAL
    recorded = fake.requests_for(PRIMARY)
    assert len(recorded) == 1
    body = recorded[0]["body"]
    sent = {"messages": messages, "tools": tools, "tool_choice": "auto", "response_format": response_format,
            "temperature": 1.0, "top_p": 1, "max_tokens": 64, "seed": 7, "user": "someone",
            "metadata": {"k": "v"}, **extra}
    for key, value in sent.items():
        assert key in body, f"{key} dropped on the way to the primary"
        assert numbers_typed(body[key]) == numbers_typed(value), f"{key} changed: {body[key]!r} != {value!r}"
    assert body["model"] == PRIMARY
    assert set(body) - set(sent) <= {"model", "stream", "stream_options"}, set(body) - set(sent)


def test_tool_calls_come_back_unchanged_without_critique(proxy, fake):
    tool_calls = [{"id": "call_abc123", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"°C\"}"}}]
    fake.script(PRIMARY, tool_calls=tool_calls, finish_reason="tool_calls")
    fake.script(CRITIQUE, content="critique must not run")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    r = client(proxy).chat.completions.create(model="hydracodedone", messages=USER, tools=tools)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.id == "call_abc123" and call.type == "function"
    assert call.function.name == "get_weather"
    assert call.function.arguments == tool_calls[0]["function"]["arguments"]
    assert [q["body"]["model"] for q in fake.requests()] == [PRIMARY], "a critique request was made"


def test_tool_calls_streamed_come_back_unchanged_without_critique(proxy, fake):
    tool_calls = [{"id": "call_xyz", "type": "function",
                   "function": {"name": "lookup", "arguments": "{\"q\": \"swift\"}"}}]
    fake.script(PRIMARY, tool_calls=tool_calls, finish_reason="tool_calls")
    fake.script(CRITIQUE, content="critique must not run")
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    chunks = collect(client(proxy).chat.completions.create(
        model="hydracodedone", messages=USER, tools=tools, stream=True))
    calls = {}
    for c in chunks:
        for ch in c.choices:
            for tc in ch.delta.tool_calls or []:
                entry = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                entry["id"] = tc.id or entry["id"]
                if tc.function is not None:
                    entry["name"] += tc.function.name or ""
                    entry["arguments"] += tc.function.arguments or ""
    assert calls == {0: {"id": "call_xyz", "name": "lookup", "arguments": "{\"q\": \"swift\"}"}}, calls
    finishes = [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason]
    assert finishes == ["tool_calls"]
    assert "critique must not run" not in stream_text(chunks)
    assert [q["body"]["model"] for q in fake.requests()] == [PRIMARY], "a critique request was made"


def test_think_tags_are_stripped(proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, content="<think>private musing</think>final text")
    r = client(proxy).chat.completions.create(model="hydracodedone", messages=USER)
    assert r.choices[0].message.content == FINAL


def test_think_tags_split_across_chunks_are_stripped_when_streaming(proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, content="<think>private musing</think>final text",
                chunks=["<thi", "nk>private ", "mus", "ing</th", "ink>", "final", " text"])
    chunks = collect(client(proxy).chat.completions.create(model="hydracodedone", messages=USER, stream=True))
    text = stream_text(chunks)
    assert "musing" not in text and "think>" not in text, text
    assert text == FINAL


def test_think_tags_stripped_without_critique(nocritique_proxy, fake):
    fake.script(PRIMARY, content="<think>hidden</think>draft text",
                chunks=["<", "think>hid", "den</think", ">draft", " text"])
    c = client(nocritique_proxy)
    assert c.chat.completions.create(model="hydracodedone", messages=USER).choices[0].message.content == DRAFT
    assert stream_text(collect(c.chat.completions.create(model="hydracodedone", messages=USER, stream=True))) \
        == DRAFT


def test_critique_off_primary_answers_alone(nocritique_proxy, fake):
    fake.script(PRIMARY, content=DRAFT, usage=PRIMARY_USAGE)
    fake.script(CRITIQUE, content="critique must not run", usage=CRITIQUE_USAGE)
    c = client(nocritique_proxy)
    r = c.chat.completions.create(model="asked-model", messages=USER)
    assert r.choices[0].message.content == DRAFT
    assert r.model == "asked-model"
    assert r.usage is not None and r.usage.total_tokens == PRIMARY_USAGE["total_tokens"]
    chunks = collect(c.chat.completions.create(model="asked-model", messages=USER, stream=True))
    assert stream_text(chunks) == DRAFT
    assert [q["body"]["model"] for q in fake.requests()] == [PRIMARY, PRIMARY]


# ------------------------------------------------------------------------------------------------
# Errors, each surfacing as the SDK's own exception class

@pytest.mark.no_upstream
def test_missing_messages_is_bad_request(proxy, fake):
    with pytest.raises(openai.BadRequestError) as e:
        client(proxy).post("/chat/completions", body={"model": "hydracodedone"}, cast_to=dict)
    assert e.value.status_code == 400
    assert "messages" in (e.value.message + json.dumps(e.value.body)), e.value.message
    assert fake.requests() == [], "an invalid request reached the upstream"


@pytest.mark.no_upstream
def test_n_greater_than_one_is_bad_request(proxy, fake):
    with pytest.raises(openai.BadRequestError) as e:
        client(proxy).chat.completions.create(model="hydracodedone", messages=USER, n=2)
    assert e.value.status_code == 400
    assert fake.requests() == []


@pytest.mark.no_upstream
def test_non_boolean_stream_is_bad_request(proxy, fake):
    with pytest.raises(openai.BadRequestError) as e:
        client(proxy).chat.completions.create(model="hydracodedone", messages=USER, extra_body={"stream": "yes"})
    assert e.value.status_code == 400
    assert fake.requests() == []


@pytest.mark.no_upstream
def test_invalid_json_is_bad_request_with_openai_error_shape(proxy, fake):
    r = httpx.post(proxy.v1 + "/chat/completions", content=b'{"model": "x", "messages": [',
                   headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert r.status_code == 400
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"]
    assert r.headers.get("x-request-id")
    assert fake.requests() == []


@pytest.mark.no_upstream
def test_wrong_or_missing_key_is_authentication_error(auth_proxy, fake):
    standard_scripts(fake)
    with pytest.raises(openai.AuthenticationError) as e:
        client(auth_proxy, api_key="wrong-key").chat.completions.create(model="hydracodedone", messages=USER)
    assert e.value.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        client(auth_proxy, api_key="wrong-key").models.list()
    with pytest.raises(openai.AuthenticationError):
        client(auth_proxy).chat.completions.create(
            model="hydracodedone", messages=USER, extra_headers={"Authorization": openai.Omit()})
    r = httpx.post(auth_proxy.v1 + "/chat/completions", json={"model": "m", "messages": USER}, timeout=TIMEOUT)
    assert r.status_code == 401
    assert set(r.json()["error"]) >= {"message", "type", "param", "code"}
    assert fake.requests() == [], "an unauthenticated request reached the upstream"


def test_right_key_works_and_is_not_forwarded(auth_proxy, fake):
    standard_scripts(fake)
    c = client(auth_proxy, api_key=PROXY_KEY)
    assert c.chat.completions.create(model="hydracodedone", messages=USER).choices[0].message.content == FINAL
    assert stream_text(collect(c.chat.completions.create(model="hydracodedone", messages=USER, stream=True))) \
        == FINAL
    assert [m.id for m in c.models.list().data][0] == "hydracodedone"
    recorded = fake.requests()
    assert len(recorded) == 4
    for q in recorded:
        assert q["headers"].get("authorization") == f"Bearer {UPSTREAM_KEY}", q["headers"]
        assert PROXY_KEY not in json.dumps(q), "the proxy's own key leaked to the upstream"


@pytest.mark.no_upstream
def test_health_needs_no_key(auth_proxy):
    for path in ("/health", "/v1/health"):
        r = httpx.get(auth_proxy.url + path, timeout=TIMEOUT)
        assert r.status_code == 200, (path, r.status_code, r.text)


@pytest.mark.no_upstream
def test_unknown_path_is_not_found(proxy):
    with pytest.raises(openai.NotFoundError) as e:
        client(proxy).get("/no-such-route", cast_to=dict)
    assert e.value.status_code == 404


@pytest.mark.no_upstream
def test_bad_base_path_is_not_found(proxy, fake):
    standard_scripts(fake)
    bad = openai.OpenAI(base_url=proxy.url + "/v2", api_key="x", timeout=TIMEOUT, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        bad.chat.completions.create(model="hydracodedone", messages=USER)
    assert fake.requests() == []


UPSTREAM_400 = {"error": {"message": "This model's maximum context length is 8192 tokens (upstream says)",
                          "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}


def test_upstream_4xx_is_passed_on_with_its_message(proxy, fake):
    fake.script(PRIMARY, status=400, error_body=json.dumps(UPSTREAM_400))
    fake.script(CRITIQUE, content=FINAL)
    with pytest.raises(openai.APIStatusError) as e:
        client(proxy).chat.completions.create(model="hydracodedone", messages=USER)
    assert e.value.status_code == 400
    assert "maximum context length is 8192 tokens (upstream says)" in e.value.message
    assert [q["body"]["model"] for q in fake.requests()] == [PRIMARY], "critique ran after a failed primary"


def test_upstream_4xx_when_streaming_reaches_the_client(proxy, fake):
    fake.script(PRIMARY, status=400, error_body=json.dumps(UPSTREAM_400))

    def run():
        stream = client(proxy).chat.completions.create(model="hydracodedone", messages=USER, stream=True)
        return collect(stream)

    with pytest.raises(openai.APIError) as e:
        run_with_deadline(run)
    if isinstance(e.value, openai.APIStatusError):  # failed before the stream's headers
        assert e.value.status_code == 400
    assert "maximum context length is 8192 tokens (upstream says)" in e.value.message


def test_critique_failure_falls_back_to_the_draft_by_default(proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, status=500)
    c = client(proxy)
    raw = c.chat.completions.with_raw_response.create(model="hydracodedone", messages=USER)
    assert raw.status_code == 200
    assert raw.headers.get("x-hydra-critique") == "fallback"
    assert raw.parse().choices[0].message.content == DRAFT
    chunks = collect(c.chat.completions.create(model="hydracodedone", messages=USER, stream=True))
    assert stream_text(chunks) == DRAFT


def test_critique_failure_error_mode_non_stream(error_proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, status=500)
    with pytest.raises(openai.APIStatusError) as e:
        client(error_proxy).chat.completions.create(model="hydracodedone", messages=USER)
    assert e.value.status_code >= 500


def test_critique_failure_error_mode_raises_during_streaming(error_proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, status=500)

    def run():
        return collect(client(error_proxy).chat.completions.create(model="hydracodedone", messages=USER,
                                                                  stream=True))

    with pytest.raises(openai.APIError):
        run_with_deadline(run)


def test_critique_reset_mid_stream_error_mode_raises(error_proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, content="final text that will be cut off here", reset="mid_stream", chunk_delay_ms=10)
    seen = []

    def run():
        for chunk in client(error_proxy).chat.completions.create(model="hydracodedone", messages=USER,
                                                                 stream=True):
            seen.append(chunk)

    with pytest.raises(openai.APIError):
        run_with_deadline(run)


def test_primary_reset_mid_stream_raises(proxy, fake):
    fake.script(PRIMARY, content="a draft that dies halfway through", reset="mid_stream", chunk_delay_ms=10)
    fake.script(CRITIQUE, content=FINAL)

    def run():
        return collect(client(proxy).chat.completions.create(model="hydracodedone", messages=USER, stream=True))

    with pytest.raises(openai.APIError):
        run_with_deadline(run)
    assert not fake.requests_for(CRITIQUE), "critique ran on a truncated draft"


def test_primary_connection_reset_is_a_server_error(proxy, fake):
    # `mid_stream` only applies to streamed upstream requests; `before_headers` to both.
    fake.script(PRIMARY, reset="before_headers")
    fake.script(CRITIQUE, content=FINAL)
    with pytest.raises(openai.APIStatusError) as e:
        client(proxy).chat.completions.create(model="hydracodedone", messages=USER)
    assert e.value.status_code >= 500
    assert set(e.value.body) >= {"message", "type"}, e.value.body

    def run():
        return collect(client(proxy).chat.completions.create(model="hydracodedone", messages=USER, stream=True))

    with pytest.raises(openai.APIError):
        run_with_deadline(run)
    assert not fake.requests_for(CRITIQUE), "critique ran without a draft"


def test_async_in_stream_error_raises(error_proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, status=500)

    async def main():
        async with aclient(error_proxy) as c:
            stream = await c.chat.completions.create(model="hydracodedone", messages=USER, stream=True)
            return [chunk async for chunk in stream]

    with pytest.raises(openai.APIError):
        asyncio.run(asyncio.wait_for(main(), TIMEOUT))
