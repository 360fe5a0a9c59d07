"""The top-level `hydra` object (issue #16, item 5): what the critique did, on a stream's final
chunk (the one with finish_reason) and on every JSON answer:

    "hydra": {"critique": "applied|fallback|skipped|off", "reason": ..., "rounds": N,
              "timings_ms": {"primary": ms, "critique": ms}}

The official openai SDK must parse such answers and streams without error and expose the field
(pydantic's `model_extra`, `to_dict()`); OpenAI's own schema must accept it (every body here is
validated by the suite's transport taps, see openai_schema_check.py).

Critique failures are scripted as 500 (no retry) except where a 503 is the point: the proxy
retries a 503 once after 500 ms before falling back."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import httpx
import openai
import pytest

from compat_helpers import (CRITIQUE, DRAFT, FINAL, PRIMARY, SUMMED_USAGE, TIMEOUT, SSEStream, chat_body,
                            run_with_deadline, standard_scripts)
from openai_schema_check import CHAT_COMPLETION, CHAT_COMPLETION_CHUNK, SCHEMAS

USER = [{"role": "user", "content": "Review my plan, please."}]
OUTCOMES = {"applied", "fallback", "skipped", "off"}


def client(proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key="x", timeout=TIMEOUT, max_retries=0)


def collect(stream) -> List[Any]:
    return run_with_deadline(lambda: list(stream), TIMEOUT, on_timeout=stream.close)


def assert_hydra(hydra: Any, critique: str) -> Dict[str, Any]:
    """The documented shape, and the outcome expected."""
    assert isinstance(hydra, dict), hydra
    assert hydra.get("critique") == critique, hydra
    assert hydra["critique"] in OUTCOMES
    assert isinstance(hydra.get("rounds"), int) and not isinstance(hydra["rounds"], bool), hydra
    timings = hydra.get("timings_ms")
    assert isinstance(timings, dict), hydra
    assert set(timings) <= {"primary", "critique"}, timings
    assert all(isinstance(v, int) and v >= 0 for v in timings.values()), timings
    if critique in ("fallback", "skipped"):
        assert isinstance(hydra.get("reason"), str) and hydra["reason"], f"{critique} without a reason: {hydra}"
    if "reason" in hydra:
        assert isinstance(hydra["reason"], str), hydra
    return hydra


def sdk_hydra(obj: Any) -> Any:
    """The field as the SDK exposes it, checked to agree between model_extra and to_dict()."""
    extra = obj.model_extra or {}
    assert "hydra" in extra, f"hydra not in model_extra: {sorted(extra)}"
    assert obj.to_dict().get("hydra") == extra["hydra"]
    return extra["hydra"]


def finish_chunks(chunks) -> List[Any]:
    return [c for c in chunks if c.choices and c.choices[0].finish_reason]


# ------------------------------------------------------------------------------------------------
# The openai SDK: JSON answers

def test_sdk_answer_exposes_hydra_applied(proxy, fake):
    standard_scripts(fake)
    r = client(proxy).chat.completions.create(model="hydracodedone", messages=USER)
    assert r.choices[0].message.content == FINAL
    hydra = assert_hydra(sdk_hydra(r), "applied")
    assert hydra["rounds"] >= 1, hydra
    assert set(hydra["timings_ms"]) == {"primary", "critique"}, hydra


def test_sdk_answer_exposes_hydra_fallback(proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, status=500)
    raw = client(proxy).chat.completions.with_raw_response.create(model="hydracodedone", messages=USER)
    assert raw.headers.get("x-hydra-critique") == "fallback"
    r = raw.parse()
    assert r.choices[0].message.content == DRAFT
    hydra = assert_hydra(sdk_hydra(r), "fallback")
    assert "500" in hydra["reason"], hydra
    assert hydra["rounds"] == 0, hydra


def test_sdk_answer_exposes_hydra_skipped_for_tool_calls(proxy, fake):
    tool_calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    fake.script(PRIMARY, tool_calls=tool_calls, finish_reason="tool_calls")
    fake.script(CRITIQUE, content="critique must not run")
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    r = client(proxy).chat.completions.create(model="hydracodedone", messages=USER, tools=tools)
    assert r.choices[0].finish_reason == "tool_calls"
    hydra = assert_hydra(sdk_hydra(r), "skipped")
    assert hydra["reason"] == "tool calls", hydra


def test_sdk_answer_exposes_hydra_skipped_for_background_tasks(proxy, fake):
    standard_scripts(fake)
    task = [{"role": "user", "content": "### Task:\nGenerate a concise title for the chat."}]
    r = client(proxy).chat.completions.create(model="hydracodedone", messages=task)
    assert r.choices[0].message.content == DRAFT
    hydra = assert_hydra(sdk_hydra(r), "skipped")
    assert hydra["reason"] == "background task", hydra


def test_sdk_answer_exposes_hydra_off(nocritique_proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    r = client(nocritique_proxy).chat.completions.create(model="hydracodedone", messages=USER)
    assert r.choices[0].message.content == DRAFT
    assert_hydra(sdk_hydra(r), "off")


# ------------------------------------------------------------------------------------------------
# The openai SDK: streams (only the finish chunk carries the object)

@pytest.mark.parametrize("include_usage", [False, True], ids=["no-usage", "usage"])
def test_sdk_stream_exposes_hydra_on_the_finish_chunk(proxy, fake, include_usage):
    standard_scripts(fake)
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = collect(client(proxy).chat.completions.create(model="hydracodedone", messages=USER, stream=True,
                                                           **extra))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == FINAL
    finish = finish_chunks(chunks)
    assert len(finish) == 1
    assert_hydra(sdk_hydra(finish[0]), "applied")
    others = [c for c in chunks if c is not finish[0]]
    assert others and all("hydra" not in (c.model_extra or {}) for c in others), \
        "hydra on a chunk other than the finish chunk"
    if include_usage:
        assert chunks[-1].usage is not None and chunks[-1].choices == []
        assert chunks[-1].usage.total_tokens == SUMMED_USAGE["total_tokens"]


def test_sdk_fallback_stream_says_so_on_the_finish_chunk(proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, status=500)
    chunks = collect(client(proxy).chat.completions.create(model="hydracodedone", messages=USER, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == DRAFT
    finish = finish_chunks(chunks)
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    hydra = assert_hydra(sdk_hydra(finish[0]), "fallback")
    assert "500" in hydra["reason"], hydra


def test_sdk_async_stream_and_answer_expose_hydra(proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, status=500)

    async def main():
        async with openai.AsyncOpenAI(base_url=proxy.v1, api_key="x", timeout=TIMEOUT, max_retries=0) as c:
            r = await c.chat.completions.create(model="hydracodedone", messages=USER)
            stream = await c.chat.completions.create(model="hydracodedone", messages=USER, stream=True)
            return r, [chunk async for chunk in stream]

    r, chunks = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))
    assert_hydra(sdk_hydra(r), "fallback")
    finish = finish_chunks(chunks)
    assert len(finish) == 1
    assert_hydra(sdk_hydra(finish[0]), "fallback")


def test_sdk_stream_helper_accumulates_with_hydra(proxy, fake):
    """The SDK's higher-level stream helper (`chat.completions.stream`) builds its final
    completion from the chunks; the extra field must not break the accumulation."""
    standard_scripts(fake)
    with client(proxy).chat.completions.stream(model="hydracodedone", messages=USER) as stream:
        final = run_with_deadline(stream.get_final_completion, TIMEOUT, on_timeout=stream.close)
    assert final.choices[0].message.content == FINAL
    assert final.choices[0].finish_reason == "stop"


# ------------------------------------------------------------------------------------------------
# Raw wire: where exactly the object is, for programs that read the stream themselves

def raw_stream(proxy, body) -> SSEStream:
    def run():
        with httpx.stream("POST", proxy.v1 + "/chat/completions", json=body, timeout=TIMEOUT) as r:
            return r.status_code, b"".join(r.iter_raw())

    status, raw = run_with_deadline(run)
    assert status == 200, raw[:500]
    return SSEStream(raw)


def test_fallback_stream_final_chunk_says_fallback_with_a_reason(proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, status=503)
    sse = raw_stream(proxy, chat_body(stream=True, stream_options={"include_usage": True}))
    chunks = sse.assert_well_formed()
    assert sse.content() == DRAFT
    with_hydra = [c for c in chunks if "hydra" in c]
    assert len(with_hydra) == 1, [sorted(c) for c in chunks]
    final = with_hydra[0]
    assert final["choices"] and final["choices"][0].get("finish_reason") == "stop", final
    hydra = assert_hydra(final["hydra"], "fallback")
    assert "503" in hydra["reason"], hydra
    assert chunks[-1]["choices"] == [] and "hydra" not in chunks[-1], "the usage chunk comes after the final one"
    assert SCHEMAS.errors(CHAT_COMPLETION_CHUNK, final) == []


def test_json_answer_carries_hydra_and_openais_schema_accepts_it(proxy, fake):
    standard_scripts(fake)
    body = httpx.post(proxy.v1 + "/chat/completions", json=chat_body(), timeout=TIMEOUT).json()
    assert_hydra(body.get("hydra"), "applied")
    assert SCHEMAS.errors(CHAT_COMPLETION, body) == []
