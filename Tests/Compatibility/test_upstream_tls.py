"""https upstreams (issue #15): the proxy reaches the fake upstream through its TLS front, with the
session's throwaway CA (conftest.TLSFiles) trusted through UPSTREAM_CA_FILE only.

Every upstream case of the suite already runs once per scheme (`[http]` / `[https]`); this file
holds what only https has: which scheme a proxy really used, an untrusted CA, and verification
turned off (UPSTREAM_TLS_VERIFY=false) in the proxy and in `check-config`."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from compat_helpers import CRITIQUE, DRAFT, FINAL, PRIMARY, TIMEOUT, SSEStream, chat_body, run_with_deadline, \
    standard_scripts

USER = [{"role": "user", "content": "Is this connection encrypted?"}]


def client(proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key="x", timeout=TIMEOUT, max_retries=0)


def test_the_upstream_is_reached_over_the_scheme_of_the_test_id(proxy, fake, upstream_scheme):
    """The `[https]` variants really go through TLS (a silent fall back to http would make them
    a copy of the `[http]` ones): the upstream's Host header names the TLS front as `localhost`."""
    standard_scripts(fake)
    assert proxy.env["OPENAI_BASE_URL"].startswith(f"{upstream_scheme}://")
    r = client(proxy).chat.completions.create(model="hydracodedone", messages=USER)
    assert r.choices[0].message.content == FINAL
    hosts = {q["headers"].get("host") for q in fake.requests()}
    expected = f"localhost:{fake.tls_port}" if upstream_scheme == "https" else f"127.0.0.1:{fake.port}"
    assert hosts == {expected}, hosts
    if upstream_scheme == "https":
        assert proxy.env["UPSTREAM_CA_FILE"] == str(fake.tls.ca)
        assert "SSL_CERT_FILE" not in proxy.env, "the test CA must come from UPSTREAM_CA_FILE alone"
    else:
        assert "UPSTREAM_CA_FILE" not in proxy.env


# ------------------------------------------------------------------------------------------------
# A CA the proxy does not trust

def test_unknown_ca_is_a_502_naming_the_cause(untrusting_proxy, fake):
    standard_scripts(fake)
    assert "UPSTREAM_CA_FILE" not in untrusting_proxy.env
    with pytest.raises(openai.APIStatusError) as e:
        client(untrusting_proxy).chat.completions.create(model="hydracodedone", messages=USER)
    assert e.value.status_code == 502, (e.value.status_code, e.value.message)
    assert "unknown CA" in e.value.message, e.value.message
    assert fake.requests() == [], "a request got through a failed handshake"


def test_unknown_ca_when_streaming_names_the_cause(untrusting_proxy, fake):
    standard_scripts(fake)

    def run():
        with httpx.stream("POST", untrusting_proxy.v1 + "/chat/completions", json=chat_body(stream=True),
                          timeout=TIMEOUT) as r:
            return r.status_code, b"".join(r.iter_raw())

    status, raw = run_with_deadline(run)
    if status == 200:  # headers (and heartbeats) went first: the error must come as an event
        sse = SSEStream(raw)
        errors = sse.errors()
        assert len(errors) == 1 and sse.data[-1] == "[DONE]", sse.data
        message = errors[0]["error"]["message"]
    else:
        assert status == 502, (status, raw[:300])
        message = json.loads(raw)["error"]["message"]
    assert "unknown CA" in message, message
    assert fake.requests() == []


# ------------------------------------------------------------------------------------------------
# Verification turned off

def test_verify_false_works_without_the_ca_and_warns_at_start_up(noverify_proxy, fake):
    standard_scripts(fake)
    assert "UPSTREAM_CA_FILE" not in noverify_proxy.env
    c = client(noverify_proxy)
    assert c.chat.completions.create(model="hydracodedone", messages=USER).choices[0].message.content == FINAL
    stream = c.chat.completions.create(model="hydracodedone", messages=USER, stream=True)
    text = run_with_deadline(lambda: "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices),
                             TIMEOUT, on_timeout=stream.close)
    assert text == FINAL
    assert [q["body"]["model"] for q in fake.requests()] == [PRIMARY, CRITIQUE, PRIMARY, CRITIQUE]
    warnings = [line for line in noverify_proxy.log_text().splitlines()
                if "WARNING" in line.upper() and "UPSTREAM_TLS_VERIFY" in line]
    assert warnings, f"no start-up WARNING about UPSTREAM_TLS_VERIFY=false:\n{noverify_proxy.log_tail()}"


def test_verify_false_still_falls_back_to_the_draft(noverify_proxy, fake):
    fake.script(PRIMARY, content=DRAFT)
    fake.script(CRITIQUE, status=500)
    raw = client(noverify_proxy).chat.completions.with_raw_response.create(model="hydracodedone", messages=USER)
    assert raw.headers.get("x-hydra-critique") == "fallback"
    assert raw.parse().choices[0].message.content == DRAFT


# ------------------------------------------------------------------------------------------------
# check-config: the same transport and the same trust settings

def warning_lines(output: str):
    return [line for line in output.splitlines() if "WARNING" in line]


@pytest.mark.https_only
def test_check_config_warns_when_verification_is_off(check_config, fake):
    standard_scripts(fake)
    p = check_config({"UPSTREAM_TLS_VERIFY": "false"}, trust_ca=False)
    out = p.stdout + p.stderr
    warnings = warning_lines(out)
    assert any("UPSTREAM_TLS_VERIFY" in line for line in warnings), out
    assert p.returncode == 0, out
    assert f"✓ primary: https://localhost:{fake.tls_port}/v1/models is reachable" in out, out


def test_check_config_reaches_both_stages(check_config, fake, upstream_scheme):
    """check-config uses the same transport and trust settings as the proxy (the test CA through
    UPSTREAM_CA_FILE over https): both stages reachable, no warning."""
    standard_scripts(fake)
    p = check_config()
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    for stage in ("primary", "critique"):
        assert f"✓ {stage}: {fake.base_url(upstream_scheme)}/models is reachable" in out, out
    assert not warning_lines(out), out


@pytest.mark.https_only
def test_check_config_over_https_without_the_ca_names_the_cause(check_config, fake):
    standard_scripts(fake)
    p = check_config(trust_ca=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "unknown CA" in out, out
