"""Upstream quirks of Ollama and llama.cpp, encoded as fake-upstream scripts."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from compat_helpers import (CRITIQUE, CRITIQUE_USAGE, DRAFT, FINAL, PRIMARY, PRIMARY_USAGE, TIMEOUT, SSEStream,
                            chat_body, run_with_deadline)

USER = [{"role": "user", "content": "Why is the sky blue?"}]


def client(proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key="ollama", timeout=TIMEOUT, max_retries=0)


def raw_stream(proxy, body) -> SSEStream:
    def run():
        with httpx.stream("POST", proxy.v1 + "/chat/completions", json=body, timeout=TIMEOUT) as r:
            return r.status_code, b"".join(r.iter_raw())
    status, raw = run_with_deadline(run)
    assert status == 200, raw[:500]
    return SSEStream(raw)


def script_reasoning_models(fake) -> None:
    fake.script(PRIMARY, content=DRAFT, reasoning="PRIMARY-REASONING: let me think step by step",
                usage=PRIMARY_USAGE)
    fake.script(CRITIQUE, content=FINAL, reasoning="CRITIQUE-REASONING: the draft looks fine",
                usage=CRITIQUE_USAGE)


def test_streamed_reasoning_never_reaches_content(proxy, fake):
    script_reasoning_models(fake)
    sse = raw_stream(proxy, chat_body(stream=True))
    sse.assert_well_formed()
    assert sse.content() == FINAL
    assert "REASONING" not in sse.content()


def test_non_stream_reasoning_never_reaches_content(proxy, fake):
    script_reasoning_models(fake)
    r = client(proxy).chat.completions.create(model="llama3.2", messages=USER)
    assert r.choices[0].message.content == FINAL


def test_reasoning_draft_is_not_given_to_the_critique_as_content(proxy, fake):
    script_reasoning_models(fake)
    client(proxy).chat.completions.create(model="llama3.2", messages=USER)
    critique = fake.requests_for(CRITIQUE)
    assert len(critique) == 1
    draft_message = critique[0]["body"]["messages"][-2]
    assert draft_message == {"role": "assistant", "content": DRAFT}, draft_message


def test_reasoning_without_critique_stays_out_of_content(nocritique_proxy, fake):
    fake.script(PRIMARY, content=DRAFT, reasoning="PRIMARY-REASONING: hmm")
    sse = raw_stream(nocritique_proxy, chat_body(stream=True))
    sse.assert_well_formed()
    assert sse.content() == DRAFT
    r = client(nocritique_proxy).chat.completions.create(model="m", messages=USER)
    assert r.choices[0].message.content == DRAFT


def test_usage_only_when_include_usage(proxy, fake):
    """Ollama reports streamed usage only when asked; so must the proxy."""
    script_reasoning_models(fake)
    without = raw_stream(proxy, chat_body(stream=True))
    without.assert_well_formed()
    assert not without.usage_chunks(), "usage chunk without stream_options.include_usage"
    with_usage = raw_stream(proxy, chat_body(stream=True, stream_options={"include_usage": True}))
    chunks = with_usage.assert_well_formed()
    assert len(with_usage.usage_chunks()) == 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == \
        PRIMARY_USAGE["total_tokens"] + CRITIQUE_USAGE["total_tokens"]


def test_upstream_usage_always_is_not_leaked_unasked(proxy, fake):
    fake.script(PRIMARY, content=DRAFT, usage=PRIMARY_USAGE, stream_usage="always")
    fake.script(CRITIQUE, content=FINAL, usage=CRITIQUE_USAGE, stream_usage="always")
    sse = raw_stream(proxy, chat_body(stream=True))
    sse.assert_well_formed()
    assert sse.content() == FINAL
    assert not sse.usage_chunks(), "usage chunk without stream_options.include_usage"


OLLAMA_404 = {"error": {"message": "model \"llama9:70b\" not found, try pulling it first",
                        "type": "api_error", "param": None, "code": None}}


def test_ollama_model_not_found_is_404_with_message(proxy, fake):
    fake.script(PRIMARY, status=404, error_body=json.dumps(OLLAMA_404))
    with pytest.raises(openai.NotFoundError) as e:
        client(proxy).chat.completions.create(model="hydracodedone", messages=USER)
    assert e.value.status_code == 404
    assert "not found, try pulling it first" in e.value.message
    r = httpx.post(proxy.v1 + "/chat/completions", json=chat_body(), timeout=TIMEOUT)
    assert r.status_code == 404
    err = r.json()["error"]
    assert "model \"llama9:70b\" not found, try pulling it first" in err["message"]
    assert set(err) >= {"message", "type", "param", "code"}


def test_ollama_model_not_found_when_streaming(proxy, fake):
    fake.script(PRIMARY, status=404, error_body=json.dumps(OLLAMA_404))

    def run():
        with httpx.stream("POST", proxy.v1 + "/chat/completions", json=chat_body(stream=True),
                          timeout=TIMEOUT) as r:
            return r.status_code, b"".join(r.iter_raw())

    status, raw = run_with_deadline(run)
    if status == 200:  # headers (and heartbeats) went first: the error must come as an event
        sse = SSEStream(raw)
        errors = sse.errors()
        assert len(errors) == 1, sse.data
        assert "not found, try pulling it first" in errors[0]["error"]["message"]
        assert sse.data[-1] == "[DONE]"
    else:
        assert status == 404, status
        assert "not found, try pulling it first" in json.loads(raw)["error"]["message"]


@pytest.mark.parametrize("include_usage", [False, True])
def test_llama_cpp_never_reports_stream_usage(proxy, fake, include_usage):
    fake.script(PRIMARY, content=DRAFT, usage=PRIMARY_USAGE, stream_usage="never")
    fake.script(CRITIQUE, content=FINAL, usage=CRITIQUE_USAGE, stream_usage="never")
    body = chat_body(stream=True)
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    sse = raw_stream(proxy, body)
    chunks = sse.assert_well_formed()
    assert sse.content() == FINAL
    usage = sse.usage_chunks()
    if not include_usage:
        assert not usage
    else:
        assert len(usage) <= 1
        if usage:
            assert usage[0] is chunks[-1] and usage[0]["choices"] == []
    # the SDK copes as well
    stream = client(proxy).chat.completions.create(model="m", messages=USER, stream=True,
                                                   **({"stream_options": {"include_usage": True}}
                                                      if include_usage else {}))
    text = run_with_deadline(lambda: "".join(c.choices[0].delta.content or "" for c in stream if c.choices),
                             TIMEOUT, on_timeout=stream.close)
    assert text == FINAL


def test_usage_null_upstream_no_crash(proxy, fake):
    fake.script(PRIMARY, content=DRAFT, usage=None)
    fake.script(CRITIQUE, content=FINAL, usage=None)
    r = client(proxy).chat.completions.create(model="m", messages=USER)
    assert r.choices[0].message.content == FINAL
    sse = raw_stream(proxy, chat_body(stream=True, stream_options={"include_usage": True}))
    sse.assert_well_formed()
    assert sse.content() == FINAL


def test_finish_reason_length_from_critique_is_kept(proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, content=FINAL, finish_reason="length")
    r = client(proxy).chat.completions.create(model="m", messages=USER)
    assert r.choices[0].finish_reason == "length"
    sse = raw_stream(proxy, chat_body(stream=True))
    chunks = sse.assert_well_formed()
    assert [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch.get("finish_reason")] == ["length"]
