"""Constants and helpers shared by the compatibility tests (plain module; pytest puts this
directory on sys.path because it has no __init__.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

import openai_schema_check

# Names the proxies are configured with (PRIMARY_MODEL_NAME / CRITIQUE_MODEL_NAME).
PRIMARY = "primary"
CRITIQUE = "critique"
UPSTREAM_KEY = "sk-upstream-test-key"
PROXY_KEY = "proxy-secret-for-tests"
# Set explicitly so tests can check the critique request exactly (multi-line, non-ASCII on purpose).
CRITIQUE_PROMPT = "Critique phase for tests.\nImprove the LAST answer; reply with the final text only. (ünïcode ✓)"

DRAFT = "draft text"
FINAL = "final text"
PRIMARY_USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
CRITIQUE_USAGE = {"prompt_tokens": 29, "completion_tokens": 5, "total_tokens": 34}
SUMMED_USAGE = {k: PRIMARY_USAGE[k] + CRITIQUE_USAGE[k] for k in PRIMARY_USAGE}

# Client timeouts: generous for a debug build on 2 busy cores, small enough to fail fast.
TIMEOUT = 10.0


def standard_scripts(fake, **primary_extra: Any) -> None:
    """Primary drafts DRAFT, critique answers FINAL, both with known usage."""
    fake.script(PRIMARY, content=DRAFT, usage=PRIMARY_USAGE, **primary_extra)
    fake.script(CRITIQUE, content=FINAL, usage=CRITIQUE_USAGE)


def run_with_deadline(fn, seconds: float = TIMEOUT, on_timeout=None):
    """Run fn() in a thread and fail the test if it has not returned within `seconds`.

    Keep-alive comments reset every client's read timeout, so a stream that never ends would
    block a test forever; this turns a hang into a failure. `on_timeout` may close the stream.
    Returns fn's result or re-raises its exception in the caller's thread."""
    box: Dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        if on_timeout is not None:
            try:
                on_timeout()
            except Exception:  # noqa: BLE001
                pass
        pytest.fail(f"did not finish within {seconds}s (client hung)", pytrace=False)
    if "error" in box:
        raise box["error"]
    return box.get("result")


# ------------------------------------------------------------------------------------------------
# Raw SSE

class SSEStream:
    """A raw text/event-stream body split into events, checked for strict framing."""

    def __init__(self, raw: bytes):
        self.raw = raw
        self.text = raw.decode("utf-8")
        # Every chunk and error event against OpenAI's schemas (a no-op for a body the httpx tap or
        # curl() already validated; this catches raw-socket or hand-captured streams).
        openai_schema_check.check_sse_body(raw, "SSEStream")
        self.blocks: List[List[str]] = []     # every event block (lines), comments included
        self.data: List[str] = []             # the data payloads, in order
        self.comments: List[str] = []         # comment lines, in order
        self.order: List[Tuple[str, str]] = []  # ("comment"|"data", text) in arrival order
        self._parse()

    def _parse(self) -> None:
        text = self.text.replace("\r\n", "\n")
        assert text.endswith("\n\n"), f"stream does not end with a blank line: {text[-80:]!r}"
        for block in text[:-2].split("\n\n"):
            lines = block.split("\n")
            assert all(lines), f"stray empty line inside an event: {block!r}"
            self.blocks.append(lines)
            data_lines = []
            for line in lines:
                if line.startswith(":"):
                    self.comments.append(line)
                    self.order.append(("comment", line))
                elif line.startswith("data: "):
                    data_lines.append(line[len("data: "):])
                else:
                    raise AssertionError(f"line is neither 'data: ...' nor a ':' comment: {line!r}")
            assert len(data_lines) <= 1, f"more than one data line in one event: {block!r}"
            if data_lines:
                self.data.append(data_lines[0])
                self.order.append(("data", data_lines[0]))

    def chunks(self) -> List[Dict[str, Any]]:
        """Every JSON payload before [DONE], parsed."""
        out = []
        for payload in self.data:
            if payload == "[DONE]":
                break
            out.append(json.loads(payload))
        return out

    def assert_well_formed(self) -> List[Dict[str, Any]]:
        """[DONE] exactly once and last; chunks consistent; role first; a finish chunk."""
        assert self.data, "no data events at all"
        assert self.data.count("[DONE]") == 1, f"[DONE] count {self.data.count('[DONE]')}"
        assert self.data[-1] == "[DONE]", f"last data event is not [DONE]: {self.data[-1]!r}"
        assert self.text.replace("\r\n", "\n").endswith("data: [DONE]\n\n"), "bytes after data: [DONE]"
        chunks = self.chunks()
        assert chunks, "no chunk before [DONE]"
        for c in chunks:
            assert "error" not in c, f"error event in stream: {c}"
            assert c.get("object") == "chat.completion.chunk", c
        ids = {c.get("id") for c in chunks}
        created = {c.get("created") for c in chunks}
        models = {c.get("model") for c in chunks}
        assert len(ids) == 1 and None not in ids, f"chunk ids differ: {ids}"
        assert len(created) == 1 and None not in created, f"chunk created differ: {created}"
        assert len(models) == 1 and None not in models, f"chunk models differ: {models}"
        assert str(next(iter(ids))).startswith("chatcmpl-"), ids
        first = chunks[0]
        assert first["choices"] and first["choices"][0]["delta"].get("role") == "assistant", \
            f"first chunk is not the role chunk: {first}"
        finishes = [ch.get("finish_reason") for c in chunks for ch in c.get("choices", [])
                    if ch.get("finish_reason")]
        assert len(finishes) == 1, f"expected exactly one finish_reason chunk, got {finishes}"
        return chunks

    def content(self) -> str:
        return "".join(ch["delta"].get("content") or "" for c in self.chunks()
                       for ch in c.get("choices", []))

    def usage_chunks(self) -> List[Dict[str, Any]]:
        return [c for c in self.chunks() if c.get("usage")]

    def errors(self) -> List[Dict[str, Any]]:
        out = []
        for payload in self.data:
            if payload == "[DONE]":
                continue
            obj = json.loads(payload)
            if "error" in obj:
                out.append(obj)
        return out


# ------------------------------------------------------------------------------------------------
# curl

_CURL_MARK = "@@hydra-compat-curl@@"
_HEADERS_TO_STDOUT = {"-i", "--include"}


def curl(args: Sequence[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """`curl -sS -N --max-time T ARGS...`; stdout and stderr are returned as curl wrote them.

    The response body is validated against OpenAI's schemas when the URL is a proxy's: curl
    additionally writes status, Content-Type, URL and method to stderr (`-w %{stderr}...`),
    and that line is taken out again before returning."""
    exe = shutil.which("curl")
    assert exe, "curl is required for the raw framing tests (apt-get install curl)"
    write_out = "%{stderr}\n" + _CURL_MARK + " %{http_code} %{method} %{url_effective} %{content_type}\n"
    p = subprocess.run([exe, "-sS", "-N", "--max-time", str(int(timeout)), *args, "-w", write_out],
                       capture_output=True, timeout=timeout + 5)
    stderr, sep, info = p.stderr.rpartition(("\n" + _CURL_MARK + " ").encode())
    if not sep:
        return p  # curl failed before writing out (e.g. a usage error): nothing to validate
    p.stderr = stderr
    status, method, url, *content_type = info.decode("utf-8", "replace").strip().split(" ", 3)
    body = p.stdout
    if _headers_in_stdout(args):
        while body.startswith(b"HTTP/"):  # every header block, the interim 100 Continue's too
            ends = [(i, len(blank)) for blank in (b"\r\n\r\n", b"\n\n") if (i := body.find(blank)) >= 0]
            if not ends:
                body = b""
                break
            i, n = min(ends)
            body = body[i + n:]
    openai_schema_check.check_http_body(method, url, int(status or 0), content_type[0] if content_type else "",
                                        body, client="curl", complete=p.returncode == 0)
    return p


def _headers_in_stdout(args: Sequence[str]) -> bool:
    args = list(args)
    for i, a in enumerate(args):
        if a in _HEADERS_TO_STDOUT:
            return True
        if a in ("-D", "--dump-header") and i + 1 < len(args) and args[i + 1] == "-":
            return True
    return False


def chat_body(content: str = "Hello?", **extra: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = {"model": "hydracodedone", "messages": [{"role": "user", "content": content}]}
    body.update(extra)
    return body


def numbers_typed(value: Any) -> Any:
    """A copy where every number carries its JSON type, so 1 and 1.0 compare different."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", value)
    if isinstance(value, list):
        return [numbers_typed(v) for v in value]
    if isinstance(value, dict):
        return {k: numbers_typed(v) for k, v in value.items()}
    return value


def last_user_text(body: Dict[str, Any]) -> Optional[str]:
    for m in reversed(body.get("messages", [])):
        if m.get("role") == "user":
            return m.get("content")
    return None
