"""Open WebUI's background tasks (title, tags, follow-ups) are answered by the primary alone
(CRITIQUE_SKIP_PATTERNS default `^### Task:`); ordinary chat is still critiqued."""

from __future__ import annotations

import json

import httpx
import pytest

from compat_helpers import CRITIQUE, DRAFT, FINAL, PRIMARY, TIMEOUT, SSEStream, run_with_deadline, standard_scripts

TITLE_TASK = """### Task:
Generate a concise, 3-5 word title with an emoji summarizing the chat history.
### Guidelines:
- The title should clearly represent the main theme or subject of the conversation.
### Output:
JSON format: { "title": "your concise title here" }
### Chat History:
<chat_history>
USER: How do I reverse a list in Python?
ASSISTANT: Use `reversed(xs)` or `xs[::-1]`.
</chat_history>"""

MENTION = "In Open WebUI prompts, what does a line like \"### Task:\" at the start mean?"


def post(proxy, content, stream):
    body = {"model": "hydracodedone", "stream": stream, "max_tokens": 1000,
            "messages": [{"role": "user", "content": "earlier question"},
                         {"role": "assistant", "content": "earlier answer"},
                         {"role": "user", "content": content}]}

    def run():
        with httpx.stream("POST", proxy.v1 + "/chat/completions", json=body, timeout=TIMEOUT) as r:
            return r.status_code, b"".join(r.iter_raw())

    status, raw = run_with_deadline(run)
    assert status == 200, raw[:500]
    if stream:
        sse = SSEStream(raw)
        sse.assert_well_formed()
        return sse.content()
    return json.loads(raw)["choices"][0]["message"]["content"]


@pytest.mark.parametrize("stream", [False, True])
def test_background_task_is_answered_by_the_primary_alone(proxy, fake, stream):
    standard_scripts(fake)
    assert post(proxy, TITLE_TASK, stream) == DRAFT
    recorded = fake.requests()
    assert [q["body"]["model"] for q in recorded] == [PRIMARY], "a background task was critiqued"
    assert recorded[0]["body"]["messages"][-1]["content"] == TITLE_TASK
    assert recorded[0]["body"]["max_tokens"] == 1000


@pytest.mark.parametrize("stream", [False, True])
def test_mentioning_task_mid_text_is_still_critiqued(proxy, fake, stream):
    standard_scripts(fake)
    assert post(proxy, MENTION, stream) == FINAL
    assert [q["body"]["model"] for q in fake.requests()] == [PRIMARY, CRITIQUE]


def test_only_the_last_user_message_decides(proxy, fake):
    """A task marker in an earlier user message does not skip the critique of a normal one."""
    standard_scripts(fake)
    body = {"model": "hydracodedone", "messages": [
        {"role": "user", "content": TITLE_TASK},
        {"role": "assistant", "content": "{\"title\": \"Reversing lists\"}"},
        {"role": "user", "content": "Now explain slicing."}]}
    r = httpx.post(proxy.v1 + "/chat/completions", json=body, timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == FINAL
    assert [q["body"]["model"] for q in fake.requests()] == [PRIMARY, CRITIQUE]


# ------------------------------------------------------------------------------------------------
# Open WebUI's own stream parser, and the `hydra` object on the final chunk (issue #16, item 5)
#
# The tests above drive the proxy the way Open WebUI calls it (its task prompts, its message
# shapes) but read the answers with the suite's own strict SSE parser. Open WebUI itself is not
# installed here: the `open-webui` package pulls in a whole web application (its server, vector
# stores, ML libraries) for one function, and that function (`stream_body_handler`, nested inside
# `process_chat_response` in backend/open_webui/utils/middleware.py) cannot be imported on its own.
# `OpenWebUIStreamParser` below re-implements its decisions for a chat-completions stream,
# following the current Open WebUI source of the two functions involved (issue #16 checked
# 0.12.4 in a browser; below are the branches a chat-completions chunk can take):
#   - `stream_chunks_handler` (utils/misc.py) cuts the upstream body into lines at b"\n", however
#     the bytes arrive;
#   - a blank line is skipped; a line not starting with "data:" is tried as a bare JSON error
#     object and otherwise skipped (that is where ": keep-alive" comments go);
#   - "data:" is removed and the rest stripped and parsed as JSON; a parse failure drops the line
#     silently (`log.debug` + `continue`) unless the line contains "data: [DONE]";
#   - then, on the parsed object: "event" in it -> sent to the browser as a UI event;
#     "selected_model_id" in it -> recorded as the answering model; a "type" starting with
#     "response." -> handled as a Responses-API event; otherwise the chat-completions branch:
#     `usage` (plus llama.cpp's top-level `timings`) merged into the usage shown, no `choices`
#     -> an `error` is shown, else `choices[0].delta`: `content` appended to the answer,
#     `reasoning_content` / `reasoning` / `thinking` to the reasoning block, `tool_calls` collected;
#   - at the end the answer text is stripped.
# Any top-level key of a chunk that would send it down another branch ("event",
# "selected_model_id", "type", "timings", "error") is reported, so a change in the proxy that
# would confuse the real Open WebUI fails here.

OPEN_WEBUI_SPECIAL_KEYS = ("event", "selected_model_id", "type", "timings", "error")


class OpenWebUIStreamParser:
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.content = ""
        self.reasoning = ""
        self.usage: dict = {}
        self.errors: list = []
        self.ui_events: list = []
        self.selected_model_ids: list = []
        self.responses_events: list = []
        self.tool_calls: dict = {}
        self.dropped: list = []       # lines Open WebUI would silently skip although they carry data
        self.chunks: list = []        # every parsed chunk, in order

    # stream_chunks_handler: bytes -> lines
    def feed(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, _, rest = bytes(self.buffer).partition(b"\n")
            self.buffer = bytearray(rest)
            self.line(line)

    def finish(self) -> "OpenWebUIStreamParser":
        if self.buffer:
            self.line(bytes(self.buffer))
            self.buffer = bytearray()
        self.content = self.content.strip()
        return self

    # stream_body_handler: one line
    def line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace")
        if not line or line.isspace():
            return
        if not line.startswith("data:"):
            try:
                obj = json.loads(line)
                if isinstance(obj, dict) and obj.get("error"):
                    self.errors.append(obj["error"])
            except ValueError:
                pass  # comments (": keep-alive"), "event:" / "id:" fields: skipped
            return
        payload = line[5:].strip()
        try:
            data = json.loads(payload)
        except ValueError:
            if "data: [DONE]" not in line:
                self.dropped.append(line)
            return
        if not data:
            return
        self.chunks.append(data)
        if "event" in data:
            self.ui_events.append(data["event"])
        if "selected_model_id" in data:
            self.selected_model_ids.append(data["selected_model_id"])
            return
        if data.get("type", "").startswith("response."):
            self.responses_events.append(data)
            return
        raw_usage = dict(data.get("usage", {}) or {})
        raw_usage.update(data.get("timings", {}))
        if raw_usage:
            self.usage.update(raw_usage)
        choices = data.get("choices", [])
        if not choices:
            error = data.get("error", {})
            if error:
                self.errors.append(error)
            return
        delta = choices[0].get("delta", {})
        for call in delta.get("tool_calls") or []:
            entry = self.tool_calls.setdefault(call.get("index"), {"id": None, "name": "", "arguments": ""})
            entry["id"] = call.get("id") or entry["id"]
            function = call.get("function") or {}
            entry["name"] = function.get("name") or entry["name"]
            entry["arguments"] += function.get("arguments") or ""
        value = delta.get("content")
        if value:
            self.content += value if isinstance(value, str) else f"{value}"
        reasoning = delta.get("reasoning_content") or delta.get("reasoning") or delta.get("thinking")
        if reasoning:
            self.reasoning += reasoning


def test_open_webui_parser_itself():
    """The re-implementation sees what Open WebUI sees: lines split across reads, comments and
    [DONE] skipped, a broken line dropped, and a chunk with a top-level `event` taken as a UI
    event (which is why no proxy chunk may carry one)."""
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": " hé "}, "finish_reason": None}]}
    raw = (": keep-alive\n\n" + f"data: {json.dumps(chunk)}\n\n" + "data: {broken\n\n"
           + f"data: {json.dumps(dict(chunk, event={'type': 'status'}))}\n\n" + "data: [DONE]\n\n").encode()
    parser = OpenWebUIStreamParser()
    for i in range(0, len(raw), 7):
        parser.feed(raw[i:i + 7])
    parser.finish()
    assert parser.content == "hé  hé"
    assert parser.dropped == ["data: {broken"]
    assert parser.ui_events == [{"type": "status"}]
    with pytest.raises(AssertionError):
        assert_no_branch_confusion(parser)


def open_webui_stream(proxy, messages, **extra) -> OpenWebUIStreamParser:
    """POST a streamed chat completion as Open WebUI's OpenAI router does and feed the body,
    chunk by chunk as it arrives, to Open WebUI's line handling."""
    body = {"model": "hydracodedone", "stream": True, "messages": messages, **extra}
    parser = OpenWebUIStreamParser()

    def run():
        with httpx.stream("POST", proxy.v1 + "/chat/completions", json=body, timeout=TIMEOUT,
                          headers={"Authorization": "Bearer sk-open-webui"}) as r:
            assert r.status_code == 200, r.read()[:500]
            assert r.headers["content-type"].startswith("text/event-stream"), r.headers
            for piece in r.iter_raw():
                parser.feed(piece)
        return parser.finish()

    return run_with_deadline(run)


def assert_no_branch_confusion(parser: OpenWebUIStreamParser) -> None:
    assert parser.dropped == [], f"lines Open WebUI would silently drop: {parser.dropped}"
    assert parser.errors == [], parser.errors
    assert parser.ui_events == [] and parser.selected_model_ids == [] and parser.responses_events == [], \
        (parser.ui_events, parser.selected_model_ids, parser.responses_events)
    for chunk in parser.chunks:
        special = [k for k in OPEN_WEBUI_SPECIAL_KEYS if k in chunk]
        assert not special, f"top-level {special} would send this chunk down another Open WebUI branch: {chunk}"


def test_open_webui_parses_a_fallback_stream_with_the_hydra_final_chunk(proxy, fake):
    fake.script(PRIMARY, content=DRAFT, chunks=["draft", " ", "text"])
    fake.script(CRITIQUE, status=503)
    parser = open_webui_stream(proxy, [{"role": "user", "content": "How do I reverse a list in Python?"}],
                               stream_options={"include_usage": True})
    assert_no_branch_confusion(parser)
    assert parser.content == DRAFT
    assert parser.reasoning == ""
    assert parser.usage, "Open WebUI shows usage from the usage chunk"
    hydra = [c["hydra"] for c in parser.chunks if "hydra" in c]
    assert len(hydra) == 1, parser.chunks
    assert hydra[0]["critique"] == "fallback" and hydra[0].get("reason"), hydra[0]
    final = next(c for c in parser.chunks if "hydra" in c)
    assert final["choices"][0]["finish_reason"] == "stop", final


@pytest.mark.parametrize("content, expected, outcome", [
    (MENTION, FINAL, "applied"),
    (TITLE_TASK, DRAFT, "skipped"),
], ids=["chat", "title-task"])
def test_open_webui_parses_hydra_streams(proxy, fake, content, expected, outcome):
    standard_scripts(fake)
    parser = open_webui_stream(proxy, [{"role": "user", "content": content}])
    assert_no_branch_confusion(parser)
    assert parser.content == expected
    hydra = [c["hydra"] for c in parser.chunks if "hydra" in c]
    assert len(hydra) == 1 and hydra[0]["critique"] == outcome, hydra


def test_open_webui_parses_a_streamed_tool_call_with_hydra(proxy, fake):
    tool_calls = [{"id": "call_owui", "type": "function",
                   "function": {"name": "search_web", "arguments": "{\"query\": \"swift tls\"}"}}]
    fake.script(PRIMARY, tool_calls=tool_calls, finish_reason="tool_calls")
    fake.script(CRITIQUE, content="critique must not run")
    tools = [{"type": "function", "function": {"name": "search_web", "parameters": {"type": "object"}}}]
    parser = open_webui_stream(proxy, [{"role": "user", "content": "Search for swift tls"}], tools=tools)
    assert_no_branch_confusion(parser)
    assert parser.tool_calls == {0: {"id": "call_owui", "name": "search_web",
                                     "arguments": "{\"query\": \"swift tls\"}"}}, parser.tool_calls
    hydra = [c["hydra"] for c in parser.chunks if "hydra" in c]
    assert len(hydra) == 1 and hydra[0]["critique"] == "skipped", hydra


def test_open_webui_non_stream_answer_with_hydra(proxy, fake):
    """Non-streamed, Open WebUI reads choices[0].message.content, `usage` and `error` of the
    answer; `hydra` beside them changes nothing."""
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, status=500)
    r = httpx.post(proxy.v1 + "/chat/completions", timeout=TIMEOUT,
                   json={"model": "hydracodedone", "stream": False,
                         "messages": [{"role": "user", "content": "How do I reverse a list?"}]})
    assert r.status_code == 200
    answer = r.json()
    assert "error" not in answer and answer["choices"][0]["message"]["content"] == DRAFT
    assert answer["hydra"]["critique"] == "fallback"
