"""The OpenAI schema check itself (openai_schema_check.py): it accepts what OpenAI documents,
rejects what OpenAI's schema rejects, and sees every client the suite uses. Without these tests a
broken hook or an empty schema would pass everything silently."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import pathlib
import re
import threading

import httpx
import jsonschema
import openai
import pytest
import referencing.exceptions

import openai_schema_check
from compat_helpers import TIMEOUT, SSEStream, chat_body, curl, run_with_deadline, standard_scripts
from openai_schema_check import (CHAT_COMPLETION, CHAT_COMPLETION_CHUNK, ERROR_RESPONSE, MODEL_LIST, RECORDER,
                                 SCHEMAS, Schemas, SchemaViolation)

VENDORED = pathlib.Path(openai_schema_check.__file__).resolve().parent / "openai_schemas"


# ------------------------------------------------------------------------------------------------
# The vendored document

def test_vendored_schemas_are_the_recorded_extract():
    readme = (VENDORED / "README.md").read_text()
    digest = hashlib.sha256((VENDORED / "openai_schemas.json").read_bytes()).hexdigest()
    assert digest in readme, "openai_schemas.json changed without its README (sha256) being updated"
    source = SCHEMAS.source
    assert source["commit"] in readme and source["repo"] == "openai/openai-openapi", source
    for root in (CHAT_COMPLETION, CHAT_COMPLETION_CHUNK, ERROR_RESPONSE, MODEL_LIST, "Model"):
        assert root in source["roots"], root


def test_nullable_fields_are_translated_and_needed():
    """The stream's finish_reason / usage / logprobs are `nullable: true` (OpenAPI 3.0): read
    literally, null would be rejected, although OpenAI's own streams send it."""
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None,
                          "logprobs": None}], "usage": None}
    assert SCHEMAS.errors(CHAT_COMPLETION_CHUNK, chunk) == []
    literal = Schemas(nullable_as_null=False)
    errors = " ".join(literal.errors(CHAT_COMPLETION_CHUNK, chunk))
    assert "finish_reason" in errors and "usage" in errors, errors
    # ...and the translation keeps the non-null constraints
    bad = json.loads(json.dumps(chunk))
    bad["choices"][0]["finish_reason"] = "done"
    bad["usage"] = {"prompt_tokens": 1}
    errors = " ".join(SCHEMAS.errors(CHAT_COMPLETION_CHUNK, bad))
    assert "'done' is not one of" in errors and "'completion_tokens' is a required property" in errors, errors


def test_dangling_refs_are_an_error_not_a_fetch():
    """$refs resolve inside the vendored document only."""
    validator = jsonschema.Draft202012Validator({"$ref": "https://example.invalid/schema.json"},
                                                registry=SCHEMAS.registry)
    with pytest.raises(referencing.exceptions.Unresolvable):
        validator.is_valid({})


HYDRA = {"critique": "fallback", "reason": "The critique upstream failed with 503", "rounds": 0,
         "timings_ms": {"primary": 812, "critique": 41}}


def test_the_hydra_object_is_an_additional_property_openai_allows():
    """The proxy's top-level `hydra` object (issue #16) is not in OpenAI's schemas. It passes
    because those schemas do not forbid additional properties on answers and chunks (neither
    `additionalProperties` nor `unevaluatedProperties` is false on them, nor anywhere in the
    vendored document), not because the check makes an exception for it."""
    def forbids_extra(node):
        if isinstance(node, dict):
            if node.get("additionalProperties") is False or node.get("unevaluatedProperties") is False:
                return True
            return any(forbids_extra(v) for v in node.values())
        return isinstance(node, list) and any(forbids_extra(v) for v in node)

    assert not forbids_extra(SCHEMAS.raw), "OpenAI's schemas now forbid additional properties somewhere"
    for name in (CHAT_COMPLETION, CHAT_COMPLETION_CHUNK):
        assert "hydra" not in SCHEMAS.raw["components"]["schemas"][name]["properties"], name
    answer = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m", "hydra": HYDRA,
              "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                           "message": {"role": "assistant", "content": "draft", "refusal": None}}]}
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "hydra": HYDRA,
             "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}]}
    assert SCHEMAS.errors(CHAT_COMPLETION, answer) == []
    assert SCHEMAS.errors(CHAT_COMPLETION_CHUNK, chunk) == []


def test_a_violation_fails_the_test_it_was_received_in():
    """conftest's pytest_runtest_call wrapper, driven by hand: a violation recorded during a
    passing test fails it; during a failing one it is raised with the test's own error as cause."""
    import conftest
    with RECORDER.expect_violations():
        hook = conftest.pytest_runtest_call(item=None)
        next(hook)
        RECORDER.violate("POST /v1/chat/completions -> 200 (self-test)", "does not match CreateChatCompletionResponse")
        with pytest.raises(SchemaViolation, match=r"(?s)1 response\(s\) do not match .*\(self-test\)"):
            hook.send(None)

        hook = conftest.pytest_runtest_call(item=None)
        next(hook)
        RECORDER.violate("GET /v1/models -> 200 (self-test)", "does not match ListModelsResponse")
        with pytest.raises(SchemaViolation) as e:
            hook.throw(ValueError("the test's own failure"))
        assert isinstance(e.value.__cause__, ValueError)

        hook = conftest.pytest_runtest_call(item=None)
        next(hook)
        with pytest.raises(StopIteration):  # nothing recorded: the test's result stands
            hook.send("result")


# ------------------------------------------------------------------------------------------------
# Real proxy output passes; the same output with one required field taken away does not

def test_chat_completion_without_refusal_fails(proxy, fake):
    standard_scripts(fake)
    body = httpx.post(proxy.v1 + "/chat/completions", json=chat_body(), timeout=TIMEOUT).json()
    assert SCHEMAS.errors(CHAT_COMPLETION, body) == []
    del body["choices"][0]["message"]["refusal"]
    assert SCHEMAS.errors(CHAT_COMPLETION, body) == ["$.choices[0].message: 'refusal' is a required property"]
    body["choices"][0]["message"]["refusal"] = None
    body["choices"][0]["finish_reason"] = None  # null is allowed in chunks only
    errors = SCHEMAS.errors(CHAT_COMPLETION, body)
    assert errors and all(e.startswith("$.choices[0].finish_reason: None is not") for e in errors), errors


@pytest.mark.no_upstream
def test_error_body_without_message_or_param_fails(proxy, fake):
    r = httpx.post(proxy.v1 + "/chat/completions", content=b"{not json", timeout=TIMEOUT,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    body = r.json()
    assert SCHEMAS.errors(ERROR_RESPONSE, body) == []
    for field in ("message", "type", "param", "code"):
        broken = json.loads(r.content)
        del broken["error"][field]
        assert SCHEMAS.errors(ERROR_RESPONSE, broken) == [f"$.error: '{field}' is a required property"]
    assert SCHEMAS.errors(ERROR_RESPONSE, {"message": body["error"]["message"]}) == \
        ["$: 'error' is a required property"]


def test_stream_chunk_without_finish_reason_fails(proxy, fake):
    standard_scripts(fake)
    with httpx.stream("POST", proxy.v1 + "/chat/completions", json=chat_body(stream=True),
                      timeout=TIMEOUT) as r:
        chunks = SSEStream(r.read()).assert_well_formed()
    for chunk in chunks:
        assert SCHEMAS.errors(CHAT_COMPLETION_CHUNK, chunk) == []
    first = chunks[0]
    del first["choices"][0]["finish_reason"]
    assert SCHEMAS.errors(CHAT_COMPLETION_CHUNK, first) == ["$.choices[0]: 'finish_reason' is a required property"]
    assert SCHEMAS.errors(CHAT_COMPLETION_CHUNK, dict(chunks[-1], object="chat.completion")) == \
        ["$.object: 'chat.completion' is not one of ['chat.completion.chunk']"]


@pytest.mark.no_upstream
def test_model_list_without_owned_by_fails(proxy):
    body = httpx.get(proxy.v1 + "/models", timeout=TIMEOUT).json()
    assert SCHEMAS.errors(MODEL_LIST, body) == []
    del body["data"][0]["owned_by"]
    assert SCHEMAS.errors(MODEL_LIST, body) == ["$.data[0]: 'owned_by' is a required property"]


# ------------------------------------------------------------------------------------------------
# The hooks see every client: a stub server that answers only schema violations

NO_REFUSAL = {"id": "chatcmpl-stub", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop",
                           "logprobs": None}]}
NO_FINISH_REASON = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 1, "model": "m",
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}]}
ERROR_WITHOUT_MESSAGE = {"error": {"type": "server_error", "param": None, "code": None}}
MODELS_WITHOUT_OWNER = {"object": "list", "data": [{"id": "m", "object": "model", "created": 1}]}
STUB_STREAM = (f"data: {json.dumps(NO_FINISH_REASON)}\n\n: keep-alive\n\n"
               f"data: {json.dumps(ERROR_WITHOUT_MESSAGE)}\n\ndata: [DONE]\n\n").encode()


class StubHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes

    def log_message(self, *args):
        pass

    def answer(self, status, content_type, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            self.answer(200, "text/plain", b"not OpenAI's business")
        elif self.path == "/v1/models":
            self.answer(200, "application/json", json.dumps(MODELS_WITHOUT_OWNER).encode())
        else:
            self.answer(404, "text/plain", b"no such route")

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if request.get("messages") is None:
            self.answer(400, "application/json", json.dumps(ERROR_WITHOUT_MESSAGE).encode())
        elif request.get("stream"):
            self.answer(200, "text/event-stream", STUB_STREAM)
        else:
            self.answer(200, "application/json", json.dumps(NO_REFUSAL).encode())


@pytest.fixture
def stub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    RECORDER.register_server(port, "schema self-test stub")
    yield f"http://127.0.0.1:{port}"
    RECORDER.unregister_server(port)
    server.shutdown()
    server.server_close()


def messages_of(violations):
    return [str(v) for v in violations]


def assert_caught(violations, *patterns):
    text = messages_of(violations)
    for pattern in patterns:
        assert any(re.search(pattern, v) for v in text), f"{pattern!r} not among the violations: {text}"


def test_openai_sdk_sync_responses_are_checked(stub):
    c = openai.OpenAI(base_url=stub + "/v1", api_key="x", timeout=TIMEOUT, max_retries=0)
    with RECORDER.expect_violations() as caught:
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        c.models.list()
        with pytest.raises(openai.APIError):  # the SDK raises on the error event itself
            run_with_deadline(lambda: list(c.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True)))
        with pytest.raises(openai.BadRequestError):
            c.post("/chat/completions", body={"model": "m"}, cast_to=dict)
    assert_caught(caught,
                  r"POST /v1/chat/completions -> 200 \(httpx2\): does not match CreateChatCompletionResponse: "
                  r"\$\.choices\[0\]\.message: 'refusal' is a required property",
                  r"GET /v1/models -> 200 \(httpx2\): .*\$\.data\[0\]: 'owned_by' is a required property",
                  r"\(httpx2\) SSE chunk: .*'finish_reason' is a required property",
                  r"\(httpx2\) SSE error event: .*'message' is a required property",
                  r"-> 400 \(httpx2\): does not match ErrorResponse: .*'message' is a required property")
    assert len(caught) == 5, messages_of(caught)


def test_openai_sdk_async_responses_are_checked(stub):
    async def main():
        async with openai.AsyncOpenAI(base_url=stub + "/v1", api_key="x", timeout=TIMEOUT, max_retries=0) as c:
            await c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            stream = await c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                     stream=True)
            with pytest.raises(openai.APIError):
                [chunk async for chunk in stream]

    with RECORDER.expect_violations() as caught:
        asyncio.run(asyncio.wait_for(main(), TIMEOUT))
    assert_caught(caught, r"-> 200 \(httpx2\): .*'refusal' is a required property",
                  r"\(httpx2\) SSE chunk: .*'finish_reason'", r"\(httpx2\) SSE error event: .*'message'")
    assert len(caught) == 3, messages_of(caught)


def test_httpx_sync_and_async_and_out_of_scope_routes(stub):
    async def via_async():
        async with httpx.AsyncClient(timeout=TIMEOUT) as c:
            await c.get(stub + "/v1/models")

    with RECORDER.expect_violations() as caught:
        httpx.post(stub + "/v1/chat/completions", json=chat_body(), timeout=TIMEOUT)
        httpx.post(stub + "/chat/completions", json=chat_body(stream=True), timeout=TIMEOUT)
        httpx.get(stub + "/no-such-route", timeout=TIMEOUT)
        assert httpx.get(stub + "/health", timeout=TIMEOUT).status_code == 200  # the proxy's own: not checked
        asyncio.run(via_async())
    assert_caught(caught, r"POST /v1/chat/completions -> 200 \(httpx\): .*'refusal'",
                  r"POST /chat/completions -> 200 \(httpx\) SSE chunk: .*'finish_reason'",
                  r"POST /chat/completions -> 200 \(httpx\) SSE error event: .*'message'",
                  r"GET /no-such-route -> 404 \(httpx\): Content-Type 'text/plain', not application/json",
                  r"GET /v1/models -> 200 \(httpx\): .*'owned_by'")
    assert len(caught) == 5, messages_of(caught)


def test_curl_and_raw_sse_are_checked(stub):
    with RECORDER.expect_violations() as caught:
        p = curl(["-D", "-", "-H", "Content-Type: application/json", "-d", json.dumps(chat_body(stream=True)),
                  stub + "/v1/chat/completions"])
        assert p.returncode == 0 and b"@@hydra" not in p.stderr + p.stdout
        p = curl(["-H", "Content-Type: application/json", "-d", json.dumps(chat_body()),
                  stub + "/v1/chat/completions"])
        assert json.loads(p.stdout) == NO_REFUSAL
    assert_caught(caught, r"\(curl\) SSE chunk: .*'finish_reason'", r"\(curl\) SSE error event: .*'message'",
                  r"POST /v1/chat/completions -> 200 \(curl\): .*'refusal'")
    assert len(caught) == 3, messages_of(caught)
    # A body that no tap saw (as from a raw socket) is checked when SSEStream parses it...
    raw = STUB_STREAM.replace(b"chatcmpl-stub", b"chatcmpl-raw")
    with RECORDER.expect_violations() as caught:
        SSEStream(raw)
    assert_caught(caught, r"SSEStream\) SSE chunk: .*'finish_reason'", r"SSEStream\) SSE error event")
    # ...and one the tap already validated is not counted twice.
    with RECORDER.expect_violations() as caught:
        SSEStream(STUB_STREAM)
    assert caught == []


def test_servers_that_are_not_proxies_are_not_checked(fake):
    fake.script("x", content="from the fake upstream")
    with RECORDER.expect_violations() as caught:
        r = httpx.post(fake.url + "/v1/chat/completions", json=chat_body(model="x"), timeout=TIMEOUT)
    assert r.status_code == 200
    assert caught == []
