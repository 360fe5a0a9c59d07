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
