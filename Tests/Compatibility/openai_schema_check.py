"""Every response body, SSE chunk and error body the compatibility suite receives from a proxy is
validated against OpenAI's own published schemas (openai_schemas/openai_schemas.json, vendored:
see openai_schemas/README.md).

How nothing is missed:
- `install_transport_taps()` (called by conftest.py) wraps the response stream of every
  `httpx` and `httpx2` HTTP transport (sync and async). The openai SDK (httpx2), langchain-openai
  (through the SDK) and the tests' own httpx calls all go through one of them. Bodies are
  validated as they are read: SSE events one by one, JSON bodies once complete.
- `compat_helpers.curl()` validates what curl received; `compat_helpers.SSEStream` validates any
  SSE body that neither of those has already seen (raw sockets, hand-made captures).
- A violation never raises inside the client (the SDK would turn it into an APIConnectionError,
  which error-path tests expect): it is recorded, and conftest.py fails the test it happened in
  with `SchemaViolation`.

Only responses of registered servers (the proxies the fixtures start) are checked, and of those
only the OpenAI API surface: the proxy's own `/health`, `/v1/health` and `/metrics` are not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import threading
import zlib
from collections import Counter
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

import jsonschema
import referencing
import referencing.jsonschema

SCHEMA_FILE = pathlib.Path(__file__).resolve().parent / "openai_schemas" / "openai_schemas.json"
DOCUMENT_URI = "urn:hydra-compat:openai-openapi"

CHAT_COMPLETION = "CreateChatCompletionResponse"
CHAT_COMPLETION_CHUNK = "CreateChatCompletionStreamResponse"
ERROR_RESPONSE = "ErrorResponse"
MODEL_LIST = "ListModelsResponse"
MODEL = "Model"

# Which summary figure a schema counts towards.
CATEGORY = {CHAT_COMPLETION: "responses", MODEL_LIST: "responses", MODEL: "responses",
            CHAT_COMPLETION_CHUNK: "chunks", ERROR_RESPONSE: "errors"}

OWN_ENDPOINTS = {"/health", "/v1/health", "/metrics"}
CHAT_PATHS = {"/v1/chat/completions", "/chat/completions"}
MODELS_PATHS = {"/v1/models", "/models"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


# ------------------------------------------------------------------------------------------------
# Loading the schemas

def translate_nullable(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` (still on some stream fields) as JSON Schema: null allowed.

    `{"type": T, "nullable": true}` becomes `{"type": [T, "null"]}` (an `enum` gains `null`);
    any other nullable schema (e.g. a bare `$ref`) becomes `{"anyOf": [schema, {"type": "null"}]}`.
    `nullable: false` is dropped. Returns a new tree."""
    if isinstance(node, list):
        return [translate_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: translate_nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is not True:
        return out
    if "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        if "null" not in types:
            types = types + ["null"]
        out["type"] = types
        if "enum" in out and None not in out["enum"]:
            out["enum"] = list(out["enum"]) + [None]
        return out
    annotations = {k: out.pop(k) for k in ("description", "title", "deprecated", "default") if k in out}
    return {**annotations, "anyOf": [out, {"type": "null"}]}


class Schemas:
    """The vendored OpenAPI fragment as a referencing registry plus one validator per schema."""

    def __init__(self, path: pathlib.Path = SCHEMA_FILE, nullable_as_null: bool = True):
        """`nullable_as_null=False` reads the document literally (only for showing why the
        translation is needed)."""
        self.path = path
        self.raw = json.loads(path.read_text(encoding="utf-8"))
        self.document = translate_nullable(self.raw) if nullable_as_null else self.raw
        self.source = self.raw.get("x-source", {})
        resource = referencing.Resource.from_contents(
            self.document, default_specification=referencing.jsonschema.DRAFT202012)
        # A registry holding only this document: a $ref anywhere else fails instead of fetching.
        self.registry = referencing.Registry().with_resource(DOCUMENT_URI, resource).crawl()
        self._validators: Dict[str, jsonschema.protocols.Validator] = {}
        for name, schema in self.document["components"]["schemas"].items():
            jsonschema.Draft202012Validator.check_schema(schema)
        for name in CATEGORY:
            self.validator(name)  # every $ref reachable from the roots must resolve now
            self.assert_refs_resolve(name)

    def validator(self, name: str) -> jsonschema.protocols.Validator:
        if name not in self._validators:
            if name not in self.document["components"]["schemas"]:
                raise KeyError(f"no schema {name!r} in {self.path}")
            self._validators[name] = jsonschema.Draft202012Validator(
                {"$ref": f"{DOCUMENT_URI}#/components/schemas/{name}"}, registry=self.registry)
        return self._validators[name]

    def assert_refs_resolve(self, name: str) -> None:
        """Follow every $ref reachable from `name` (fails loudly on a dangling one)."""
        resolver = self.registry.resolver(base_uri=DOCUMENT_URI)
        seen = set()
        todo = [f"#/components/schemas/{name}"]
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            stack = [resolver.lookup(ref).contents]
            while stack:
                node = stack.pop()
                if isinstance(node, dict):
                    if isinstance(node.get("$ref"), str):
                        todo.append(node["$ref"])
                    stack.extend(node.values())
                elif isinstance(node, list):
                    stack.extend(node)

    def errors(self, name: str, instance: Any) -> List[str]:
        """Every violation as 'path: message' (empty when the instance is valid)."""
        out = []
        for error in sorted(self.validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path)):
            out.extend(_describe(error))
        return out

    def validate(self, name: str, instance: Any) -> None:
        errs = self.errors(name, instance)
        if errs:
            raise SchemaViolation(f"{name}: " + "; ".join(errs) + f"\ninstance: {_short(instance)}")


def _describe(error: jsonschema.ValidationError) -> List[str]:
    """The deepest, most specific messages of an error (anyOf/oneOf report their branches)."""
    where = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.context:
        # anyOf/oneOf: report the branches that got past their type check (e.g. the object
        # branch of `CompletionUsage | null`), not "is not of type 'null'".
        relevant = [e for e in error.context if not (e.validator == "type" and not e.relative_path)]
        if relevant:
            return [msg for e in relevant for msg in _describe(e)]
    return [f"{where}: {error.message}"]


def _short(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, (bytes, str)) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


class SchemaViolation(AssertionError):
    """A body the proxy sent does not match OpenAI's schema."""


SCHEMAS = Schemas()


# ------------------------------------------------------------------------------------------------
# Recording what was validated

@dataclasses.dataclass
class Violation:
    where: str
    message: str
    claimed: bool = False

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class Recorder:
    """Thread-safe counts of validated bodies and the violations found."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.counts: Counter = Counter()          # category -> validated
        self.by_schema: Counter = Counter()       # schema name (+ " in stream") -> validated
        self.notes: Counter = Counter()           # remarks for the summary (e.g. streams cut short)
        self.violations: List[Violation] = []
        self.servers: Dict[int, str] = {}          # loopback port -> label
        self.seen_sse: set = set()                # digests of SSE bodies already validated
        self.counting = True

    # servers ----------------------------------------------------------------------------------
    def register_server(self, port: int, label: str) -> None:
        with self.lock:
            self.servers[int(port)] = label

    def unregister_server(self, port: int) -> None:
        with self.lock:
            self.servers.pop(int(port), None)

    def server_for(self, url: str) -> Optional[str]:
        parts = urlsplit(url)
        if (parts.hostname or "") not in LOOPBACK_HOSTS or parts.port is None:
            return None
        with self.lock:
            return self.servers.get(parts.port)

    # validation -------------------------------------------------------------------------------
    def check(self, name: str, instance: Any, where: str, in_stream: bool = False) -> bool:
        errs = SCHEMAS.errors(name, instance)
        with self.lock:
            if self.counting:
                self.counts[CATEGORY[name]] += 1
                self.by_schema[name + (" (SSE event)" if in_stream else "")] += 1
        if errs:
            self.violate(where, f"does not match {name}: " + "; ".join(errs) + f"\n    body: {_short(instance)}")
            return False
        return True

    def violate(self, where: str, message: str) -> None:
        with self.lock:
            self.violations.append(Violation(where, message))

    def note(self, reason: str) -> None:
        with self.lock:
            if self.counting:
                self.notes[reason] += 1

    def mark(self) -> int:
        with self.lock:
            return len(self.violations)

    def claim_since(self, start: int) -> List[Violation]:
        with self.lock:
            new = [v for v in self.violations[start:] if not v.claimed]
            for v in new:
                v.claimed = True
            return new

    def unclaimed(self) -> List[Violation]:
        with self.lock:
            return [v for v in self.violations if not v.claimed]

    @contextmanager
    def expect_violations(self) -> Iterator[List[Violation]]:
        """For the suite's own self-tests: violations recorded inside the block are handed to the
        caller instead of failing the test, and nothing inside is counted in the summary."""
        with self.lock:
            start = len(self.violations)
            self.counting = False
        captured: List[Violation] = []
        try:
            yield captured
        finally:
            with self.lock:
                captured.extend(self.violations[start:])
                del self.violations[start:]
                self.counting = True

    def summary(self) -> str:
        c = self.counts
        return (f"openai schema: {c['responses']} responses, {c['chunks']} chunks, "
                f"{c['errors']} errors validated")


RECORDER = Recorder()


def digest(body: bytes) -> str:
    return hashlib.sha256(body.replace(b"\r\n", b"\n")).hexdigest()


# ------------------------------------------------------------------------------------------------
# Classifying and validating one HTTP exchange

def _media_type(content_type: str) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class BodyCheck:
    """Validates one response of a registered server as its bytes arrive.

    mode "sse": each complete `data:` event is validated as soon as it is received;
    mode "json": the body is validated once complete;
    mode None: nothing to validate (out of scope)."""

    def __init__(self, method: str, url: str, status: int, content_type: str, content_encoding: str = "",
                 client: str = "httpx"):
        self.path = urlsplit(url).path or "/"
        self.where = f"{method} {self.path} -> {status} ({client})"
        self.status = status
        self.media = _media_type(content_type)
        self.buffer = b""
        self.body = bytearray()
        self.finished = False
        self.done_seen = False
        self.decoder = None
        encoding = (content_encoding or "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self.decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.decoder = zlib.decompressobj()
        elif encoding not in ("", "identity"):
            RECORDER.violate(self.where, f"cannot validate a body with Content-Encoding {encoding!r}")
        self.mode = self._classify(method)

    def _classify(self, method: str) -> Optional[str]:
        if self.path in OWN_ENDPOINTS or method == "HEAD" or self.status < 200 or 300 <= self.status < 400:
            return None
        if self.status >= 400:
            return "json"
        if self.media == "text/event-stream":
            if self.path not in CHAT_PATHS:
                RECORDER.violate(self.where, "an event stream on a route that has none in OpenAI's API")
                return None
            return "sse"
        if self.path in CHAT_PATHS or self.path in MODELS_PATHS or self._model_path():
            return "json"
        RECORDER.note(f"2xx on a route without an OpenAI schema: {self.path}")
        return None

    def _model_path(self) -> bool:
        return any(self.path.startswith(p + "/") and len(self.path) > len(p) + 1 for p in MODELS_PATHS)

    def json_schema(self) -> str:
        if self.status >= 400:
            return ERROR_RESPONSE
        if self.path in CHAT_PATHS:
            return CHAT_COMPLETION
        if self.path in MODELS_PATHS:
            return MODEL_LIST
        return MODEL

    # bytes ------------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        if self.mode is None or self.finished:
            return
        if self.decoder is not None:
            chunk = self.decoder.decompress(chunk)
        self.body.extend(chunk)
        if self.mode == "sse":
            self.buffer += chunk
            self._drain_events(final=False)

    def finish(self, complete: bool) -> None:
        """`complete`: the whole body was received (not closed early, no transport error)."""
        if self.mode is None or self.finished:
            return
        self.finished = True
        if self.decoder is not None:
            tail = self.decoder.flush()
            self.body.extend(tail)
            if self.mode == "sse":
                self.buffer += tail
        if self.mode == "sse":
            if complete:
                self._drain_events(final=True)
                with RECORDER.lock:
                    RECORDER.seen_sse.add(digest(bytes(self.body)))
            elif not self.done_seen:  # clients may close right after [DONE]: that is complete
                RECORDER.note("streams closed before [DONE] (the events received were validated)")
            return
        if not complete:
            RECORDER.note("bodies not read to the end (not validated)")
            return
        self._check_json(bytes(self.body))

    def _check_json(self, body: bytes) -> None:
        if self.media != "application/json":
            RECORDER.violate(self.where, f"Content-Type {self.media or '(none)'!r}, not application/json: "
                                         f"{_short(body)}")
            return
        try:
            obj = json.loads(body)
        except ValueError as e:
            RECORDER.violate(self.where, f"body is not JSON ({e}): {_short(body)}")
            return
        RECORDER.check(self.json_schema(), obj, self.where)

    def _drain_events(self, final: bool) -> None:
        text = self.buffer.replace(b"\r\n", b"\n")
        if not final and text.endswith(b"\r"):
            # a CRLF split between two reads: keep the CR until its LF arrives
            text, keep = text[:-1], b"\r"
        else:
            keep = b""
        text = text.replace(b"\r", b"\n")
        *events, rest = text.split(b"\n\n")
        self.buffer = rest + keep
        for event in events:
            self._check_event(event)
        if final and self.buffer.strip():
            RECORDER.violate(self.where, f"the stream ended inside an event (no blank line after it): "
                                         f"{_short(bytes(self.buffer))}")
            self.buffer = b""

    def _check_event(self, event: bytes) -> None:
        data_lines = []
        for line in event.split(b"\n"):
            if line.startswith(b"data:"):
                value = line[5:]
                data_lines.append(value[1:] if value.startswith(b" ") else value)
        if not data_lines:
            return  # comments (keep-alives) and empty events carry no body
        payload = b"\n".join(data_lines)
        if payload.strip() == b"[DONE]":
            self.done_seen = True
        check_sse_payload(payload, self.where)


def check_sse_payload(payload: bytes, where: str) -> None:
    """One `data:` payload of a chat completion stream: `[DONE]`, an error event or a chunk."""
    if payload.strip() == b"[DONE]":
        return
    try:
        obj = json.loads(payload)
    except ValueError as e:
        RECORDER.violate(where, f"SSE data is neither [DONE] nor JSON ({e}): {_short(payload)}")
        return
    if isinstance(obj, dict) and "error" in obj:
        RECORDER.check(ERROR_RESPONSE, obj, where + " SSE error event", in_stream=True)
    else:
        RECORDER.check(CHAT_COMPLETION_CHUNK, obj, where + " SSE chunk", in_stream=True)


def check_http_body(method: str, url: str, status: int, content_type: str, body: bytes,
                    client: str, complete: bool = True) -> None:
    """Validate a whole response received by other means (curl, a raw socket), if it comes from a
    registered server."""
    if RECORDER.server_for(url) is None:
        return
    check = BodyCheck(method, url, status, content_type, client=client)
    check.feed(body)
    check.finish(complete)


def check_sse_body(raw: bytes, where: str = "SSE body") -> None:
    """An SSE body parsed by a helper: validated unless a transport tap or curl already did."""
    key = digest(raw)
    with RECORDER.lock:
        if key in RECORDER.seen_sse:
            return
    check = BodyCheck("POST", "/v1/chat/completions", 200, "text/event-stream", client=where)
    check.feed(raw)
    check.finish(True)


# ------------------------------------------------------------------------------------------------
# Tapping httpx / httpx2 transports

_installed: List[Tuple[type, str, Any]] = []


def _tap_classes(lib: Any) -> Tuple[type, type]:
    class TapStream(lib.SyncByteStream):
        def __init__(self, inner: Any, check: BodyCheck):
            self._inner, self._check, self._eof = inner, check, False

        def __iter__(self):
            for chunk in self._inner:
                _safely(self._check, self._check.feed, chunk)
                yield chunk
            self._eof = True

        def close(self) -> None:
            try:
                _safely(self._check, self._check.finish, self._eof)
            finally:
                self._inner.close()

    class AsyncTapStream(lib.AsyncByteStream):
        def __init__(self, inner: Any, check: BodyCheck):
            self._inner, self._check, self._eof = inner, check, False

        async def __aiter__(self):
            async for chunk in self._inner:
                _safely(self._check, self._check.feed, chunk)
                yield chunk
            self._eof = True

        async def aclose(self) -> None:
            try:
                _safely(self._check, self._check.finish, self._eof)
            finally:
                await self._inner.aclose()

    return TapStream, AsyncTapStream


def _safely(check: BodyCheck, fn, *args) -> None:
    """The check must never break the client: a bug in it is recorded as a violation."""
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001
        RECORDER.violate(check.where, f"schema check crashed: {e!r}")


def _body_check(request: Any, response: Any, client: str) -> Optional[BodyCheck]:
    url = str(request.url)
    if RECORDER.server_for(url) is None:
        return None
    check = BodyCheck(request.method, url, response.status_code, response.headers.get("content-type", ""),
                      response.headers.get("content-encoding", ""), client=client)
    return check if check.mode is not None else None


def install_transport_taps() -> None:
    """Wrap handle_request / handle_async_request of httpx's and httpx2's HTTP transports."""
    if _installed:
        return
    import importlib
    for module_name in ("httpx", "httpx2"):
        try:
            lib = importlib.import_module(module_name)
        except ImportError:
            continue
        tap_stream, async_tap_stream = _tap_classes(lib)

        def sync_patch(original, label=module_name, tap=tap_stream):
            def handle_request(self, request):
                response = original(self, request)
                check = _body_check(request, response, label)
                if check is not None:
                    response.stream = tap(response.stream, check)
                return response
            return handle_request

        def async_patch(original, label=module_name, tap=async_tap_stream):
            async def handle_async_request(self, request):
                response = await original(self, request)
                check = _body_check(request, response, label)
                if check is not None:
                    response.stream = tap(response.stream, check)
                return response
            return handle_async_request

        for cls, attr, patch in ((lib.HTTPTransport, "handle_request", sync_patch),
                                 (lib.AsyncHTTPTransport, "handle_async_request", async_patch)):
            original = cls.__dict__[attr]
            _installed.append((cls, attr, original))
            setattr(cls, attr, patch(original))


def uninstall_transport_taps() -> None:
    while _installed:
        cls, attr, original = _installed.pop()
        setattr(cls, attr, original)
