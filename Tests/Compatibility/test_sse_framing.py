"""Raw SSE framing as httpx and `curl -N` see it, byte for byte."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from compat_helpers import (CRITIQUE, DRAFT, FINAL, PRIMARY, SUMMED_USAGE, TIMEOUT, SSEStream, chat_body, curl,
                            numbers_typed, run_with_deadline, standard_scripts)


def post_stream(proxy, body, url=None) -> tuple[httpx.Response, SSEStream]:
    def run():
        with httpx.stream("POST", url or proxy.v1 + "/chat/completions", json=body, timeout=TIMEOUT) as r:
            raw = b"".join(r.iter_raw())
            return r, raw
    r, raw = run_with_deadline(run)
    assert r.status_code == 200, raw[:500]
    return r, SSEStream(raw)


def test_httpx_stream_framing(proxy, fake):
    standard_scripts(fake)
    r, sse = post_stream(proxy, chat_body(stream=True, model="framing-model"))
    assert r.headers["content-type"].startswith("text/event-stream"), r.headers
    assert r.headers.get("x-request-id")
    chunks = sse.assert_well_formed()
    assert {c["model"] for c in chunks} == {"framing-model"}
    assert sse.content() == FINAL
    finish = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch.get("finish_reason")]
    assert finish == ["stop"]
    assert not sse.usage_chunks(), "usage chunk sent without stream_options.include_usage"


def test_httpx_stream_with_usage_framing(proxy, fake):
    standard_scripts(fake)
    _, sse = post_stream(proxy, chat_body(stream=True, stream_options={"include_usage": True}))
    chunks = sse.assert_well_formed()
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"] == SUMMED_USAGE, last
    assert len(sse.usage_chunks()) == 1


def test_non_stream_body_is_one_json_object(proxy, fake):
    standard_scripts(fake)
    r = httpx.post(proxy.v1 + "/chat/completions", json=chat_body(), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    obj = r.json()
    assert obj["object"] == "chat.completion"
    assert obj["choices"][0]["message"] == {"role": "assistant", "content": FINAL} or \
        (obj["choices"][0]["message"]["content"] == FINAL and obj["choices"][0]["message"]["role"] == "assistant")


def test_stream_false_explicit_is_json(proxy, fake):
    standard_scripts(fake)
    r = httpx.post(proxy.v1 + "/chat/completions", json=chat_body(stream=False), timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == FINAL


def test_alias_route_without_v1(proxy, fake):
    standard_scripts(fake)
    _, sse = post_stream(proxy, chat_body(stream=True), url=proxy.url + "/chat/completions")
    sse.assert_well_formed()
    assert sse.content() == FINAL


def test_curl_stream_framing(proxy, fake):
    standard_scripts(fake, chunk_delay_ms=5)
    body = json.dumps(chat_body(stream=True, stream_options={"include_usage": True}))
    p = curl(["-D", "-", "-H", "Content-Type: application/json", "-d", body, proxy.v1 + "/chat/completions"])
    assert p.returncode == 0, p.stderr.decode()
    head, _, payload = p.stdout.replace(b"\r\n", b"\n").partition(b"\n\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"text/event-stream" in head.lower()
    sse = SSEStream(payload)
    chunks = sse.assert_well_formed()
    assert sse.content() == FINAL
    assert chunks[-1]["usage"] == SUMMED_USAGE


def test_curl_large_body_with_expect_100_continue(proxy, fake):
    """Clients such as curl send `Expect: 100-continue` with large bodies; the proxy must answer it."""
    standard_scripts(fake)
    long_text = "Please review this code.\n" + ("x = 1  # ünïcode ✓\n" * 400)
    body = chat_body(long_text, stream=True)
    # Older curls send the header on their own only past 1 MiB: ask for it explicitly.
    p = curl(["-v", "-H", "Content-Type: application/json", "-H", "Expect: 100-continue",
              "--data-binary", json.dumps(body),
              proxy.v1 + "/chat/completions"])
    assert p.returncode == 0, p.stderr.decode()
    verbose = p.stderr.decode(errors="replace")
    assert "> Expect: 100-continue" in verbose, "curl did not send Expect: 100-continue"
    # Without an interim 100 Continue curl stalls for a second before sending the body.
    assert "< HTTP/1.1 100 Continue" in verbose, "no interim 100 Continue before the body"
    sse = SSEStream(p.stdout)
    sse.assert_well_formed()
    assert sse.content() == FINAL
    recorded = fake.requests_for(PRIMARY)
    assert recorded and recorded[0]["body"]["messages"][0]["content"] == long_text


def test_curl_exact_bytes_reach_the_primary(proxy, fake):
    """Integers stay integers, floats stay floats, big integers keep every digit, unknown fields
    and unicode pass through: compared on the JSON the fake upstream received."""
    standard_scripts(fake)
    raw = ('{"model":"hydracodedone","messages":[{"role":"user","content":"Zahlen: \\u00fc \\ud83d\\ude00 日本"}],'
           '"temperature":1.0,"top_p":1,"max_tokens":100,"presence_penalty":0.0,"frequency_penalty":-0.5,'
           '"x_exp":1e-07,"x_big_int":9007199254740993,"x_neg_int":-42,"x_float_list":[0.1,2.5,3.0,4],'
           '"x_obj":{"a":null,"b":false,"c":"é\\n\\t\\"quoted\\""},"stop":["\\n\\n","END"],"stream":false}')
    p = curl(["-H", "Content-Type: application/json", "--data-binary", raw, proxy.v1 + "/chat/completions"])
    assert p.returncode == 0, p.stderr.decode()
    assert json.loads(p.stdout)["choices"][0]["message"]["content"] == FINAL
    sent = json.loads(raw)
    body = fake.requests_for(PRIMARY)[0]["body"]
    for key, value in sent.items():
        if key in ("model", "stream"):
            continue
        assert key in body, f"{key} dropped"
        assert numbers_typed(body[key]) == numbers_typed(value), f"{key}: sent {value!r}, primary got {body[key]!r}"


def test_heartbeat_comments_before_slow_first_token(proxy, fake):
    fake.script(PRIMARY, content=DRAFT, first_delay_ms=2500)
    fake.script(CRITIQUE, content=FINAL)
    events = []  # (seconds since request, line)

    def run():
        start = time.monotonic()
        with httpx.stream("POST", proxy.v1 + "/chat/completions", json=chat_body(stream=True),
                          timeout=TIMEOUT) as r:
            assert r.status_code == 200
            buf = b""
            for piece in r.iter_raw():
                buf += piece
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        events.append((time.monotonic() - start, line.decode().rstrip("\r")))

    run_with_deadline(run)
    def has_content(line: str) -> bool:
        if not line.startswith("data: {"):
            return False
        choices = json.loads(line[6:]).get("choices") or []
        return bool(choices and choices[0].get("delta", {}).get("content"))

    first_content = next((i for i, (_, line) in enumerate(events) if has_content(line)), None)
    assert first_content is not None, f"no content delta at all: {events}"
    keepalives = [(t, line) for t, line in events[:first_content] if line.startswith(":")]
    assert keepalives, f"no ':' comment before the first content: {events[:first_content + 1]}"
    assert any("keep-alive" in line for _, line in keepalives), keepalives
    assert keepalives[0][0] < 2.4, f"first keep-alive only after {keepalives[0][0]:.2f}s (HEARTBEAT_SECONDS=1)"
    data = [line for _, line in events if line.startswith("data: ")]
    assert data[-1] == "data: [DONE]" and data.count("data: [DONE]") == 1
    assert "".join(json.loads(d[6:])["choices"][0]["delta"].get("content") or ""
                   for d in data[:-1] if json.loads(d[6:])["choices"]) == FINAL


def test_in_stream_error_is_an_error_event_then_done(error_proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, status=500, error_body=json.dumps({"error": {"message": "critique exploded",
                                                                        "type": "server_error"}}))

    def run():
        with httpx.stream("POST", error_proxy.v1 + "/chat/completions", json=chat_body(stream=True),
                          timeout=TIMEOUT) as r:
            return r.status_code, b"".join(r.iter_raw())

    status, raw = run_with_deadline(run)
    if status != 200:  # failed before the headers: a plain OpenAI error body
        assert status >= 500
        assert set(json.loads(raw)["error"]) >= {"message", "type", "param", "code"}
        return
    sse = SSEStream(raw)
    errors = sse.errors()
    assert len(errors) == 1, sse.data
    assert set(errors[0]["error"]) >= {"message", "type", "param", "code"}, errors[0]
    assert sse.data[-1] == "[DONE]" and sse.data.count("[DONE]") == 1
    assert sse.data.index("[DONE]") == len(sse.data) - 1


def test_upstream_garbage_sse_does_not_hang(proxy, fake):
    fake.script(PRIMARY, raw_body="data: {not json\n\n", content_type="text/event-stream")
    fake.script(CRITIQUE, content=FINAL)

    def run():
        with httpx.stream("POST", proxy.v1 + "/chat/completions", json=chat_body(stream=True),
                          timeout=TIMEOUT) as r:
            return r.status_code, b"".join(r.iter_raw())

    status, raw = run_with_deadline(run)
    if status == 200:
        sse = SSEStream(raw)
        assert sse.errors(), f"garbage upstream stream produced no error event: {sse.data}"
        assert sse.data[-1] == "[DONE]"
    else:
        assert status >= 500, status


@pytest.mark.parametrize("stream", [False, True])
def test_empty_upstream_stream_is_an_error_not_a_hang(proxy, fake, stream):
    """llama.cpp's streamed context overflow: 200, headers, then nothing."""
    fake.script(PRIMARY, empty_stream=True)
    fake.script(CRITIQUE, content=FINAL)

    def run():
        with httpx.stream("POST", proxy.v1 + "/chat/completions", json=chat_body(stream=stream),
                          timeout=TIMEOUT) as r:
            return r.status_code, b"".join(r.iter_raw())

    status, raw = run_with_deadline(run)
    primary_streamed = fake.requests_for(PRIMARY)[0]["body"].get("stream") is True
    if status == 200 and not stream:
        # empty_stream only applies to a streamed upstream request
        assert not primary_streamed, f"non-streamed request answered 200 to an empty upstream: {raw[:300]!r}"
        assert json.loads(raw)["choices"][0]["message"]["content"] == FINAL
    elif status == 200:
        sse = SSEStream(raw)
        assert sse.errors(), f"empty upstream stream produced no error event: {sse.data}"
        assert sse.data[-1] == "[DONE]"
    else:
        assert status >= 500, status
        assert "error" in json.loads(raw)
