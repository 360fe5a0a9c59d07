"""langchain-openai's ChatOpenAI pointed at the proxy."""

from __future__ import annotations

import asyncio

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from compat_helpers import CRITIQUE, FINAL, PRIMARY, SUMMED_USAGE, TIMEOUT, run_with_deadline, standard_scripts


def chat(proxy, **kw) -> ChatOpenAI:
    return ChatOpenAI(base_url=proxy.v1, api_key="x", model="hydracodedone", timeout=TIMEOUT, max_retries=0, **kw)


def test_invoke(proxy, fake):
    standard_scripts(fake)
    messages = [SystemMessage("You answer briefly."), HumanMessage("What is Swift?")]
    msg = chat(proxy).invoke(messages)
    assert msg.content == FINAL
    assert msg.response_metadata.get("model_name") == "hydracodedone"
    assert msg.usage_metadata is not None and msg.usage_metadata["total_tokens"] == SUMMED_USAGE["total_tokens"]
    primary = fake.requests_for(PRIMARY)
    assert primary[0]["body"]["messages"] == [{"role": "system", "content": "You answer briefly."},
                                              {"role": "user", "content": "What is Swift?"}]
    assert len(fake.requests_for(CRITIQUE)) == 1


def test_stream(proxy, fake):
    standard_scripts(fake, chunk_delay_ms=5)
    llm = chat(proxy)
    chunks = run_with_deadline(lambda: list(llm.stream("Tell me a story")))
    assert len(chunks) >= 2
    assert "".join(c.content for c in chunks) == FINAL


def test_stream_usage(proxy, fake):
    standard_scripts(fake)
    llm = chat(proxy, stream_usage=True)
    chunks = run_with_deadline(lambda: list(llm.stream("Count tokens")))
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    assert total.content == FINAL
    assert total.usage_metadata is not None
    assert total.usage_metadata["input_tokens"] == SUMMED_USAGE["prompt_tokens"]
    assert total.usage_metadata["output_tokens"] == SUMMED_USAGE["completion_tokens"]


def test_async_invoke_and_stream(proxy, fake):
    standard_scripts(fake)
    llm = chat(proxy)

    async def main():
        msg = await llm.ainvoke("hi")
        parts = [c.content async for c in llm.astream("hi again")]
        return msg, parts

    msg, parts = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))
    assert msg.content == FINAL
    assert "".join(parts) == FINAL
