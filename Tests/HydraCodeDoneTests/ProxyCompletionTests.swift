import Foundation
import OpenAIWire
import XCTest
@testable import TestSupport

/// Non-streamed chat completions end to end: client → proxy → fake primary → fake critique.
final class ProxyCompletionTests: XCTestCase {
    var proxy: ProxyFixture!

    override func setUpWithError() throws { proxy = try ProxyFixture() }
    override func tearDown() { proxy.stop() }

    func testAnswerShape() throws {
        try proxy.script("primary", #"{"content":"draft","usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}"#)
        try proxy.script("critique", #"{"content":"<think>hm</think>Four.","usage":{"prompt_tokens":30,"completion_tokens":2,"total_tokens":32}}"#)
        let before = Int(Date().timeIntervalSince1970)
        let r = try proxy.chat(#"{"model":"my-client-model","messages":[{"role":"user","content":"2+2?"}]}"#)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.header("Content-Type"), "application/json")
        XCTAssertEqual(r.header("X-Hydra-Critique"), "applied")
        let o = try XCTUnwrap(r.json)
        let id = try XCTUnwrap(o["id"]?.stringValue)
        XCTAssertTrue(id.hasPrefix("chatcmpl-") && id.count > 12, id)
        XCTAssertEqual(o["object"]?.stringValue, "chat.completion")
        let created = try XCTUnwrap(o["created"]?.intValue)
        XCTAssertTrue((before - 5...before + 5).contains(created))
        XCTAssertEqual(o["model"]?.stringValue, "my-client-model", "the client's model is echoed")
        let choice = try XCTUnwrap(o["choices"]?.arrayValue?.first)
        XCTAssertEqual(choice["index"]?.intValue, 0)
        XCTAssertEqual(choice["message"]?["role"]?.stringValue, "assistant")
        XCTAssertEqual(choice["message"]?["content"]?.stringValue, "Four.")
        XCTAssertEqual(choice["finish_reason"]?.stringValue, "stop")
        XCTAssertEqual(o["usage"], .object(["prompt_tokens": .int(42), "completion_tokens": .int(6), "total_tokens": .int(48)]))
        // The upstreams saw their own model names.
        XCTAssertEqual(proxy.fake.requests.map { $0.body["model"]?.stringValue }, ["primary", "critique"])
        let critiqueMessages = proxy.fake.requests(model: "critique").first?.body["messages"]?.arrayValue
        XCTAssertEqual(critiqueMessages?.last?["content"]?.stringValue, "REFINE")
        XCTAssertEqual(critiqueMessages?.dropLast().last?["content"]?.stringValue, "draft")
    }

    func testWithoutAModelTheProxyModelIsEchoed() throws {
        let r = try proxy.chat(#"{"messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(r.json?["model"]?.stringValue, "hydracodedone")
        XCTAssertEqual(proxy.fake.requests.first?.body["model"]?.stringValue, "primary")
    }

    func testIdsAreUniquePerResponse() throws {
        let a = try proxy.chat(ProxyFixture.chatBody()).json?["id"]?.stringValue
        let b = try proxy.chat(ProxyFixture.chatBody()).json?["id"]?.stringValue
        XCTAssertNotNil(a)
        XCTAssertNotEqual(a, b)
    }

    func testCritiqueFallbackIsMarked() throws {
        try proxy.script("primary", #"{"content":"the draft"}"#)
        try proxy.script("critique", #"{"status":500}"#)
        let r = try proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("X-Hydra-Critique"), "fallback")
        XCTAssertEqual(r.json?["choices"]?[0]?["message"]?["content"]?.stringValue, "the draft")
        XCTAssertEqual(r.json?["usage"]?["total_tokens"]?.intValue, 15, "only the primary's usage")
    }

    func testCritiqueErrorModeAnswers502() throws {
        proxy.stop()
        proxy = try ProxyFixture(["CRITIQUE_FAILURE": "error"])
        try proxy.script("critique", #"{"status":500}"#)
        let error = try proxy.chat(ProxyFixture.chatBody()).assertOpenAIError(status: 502)
        XCTAssertTrue(error?["message"]?.stringValue?.contains("critique") ?? false)
    }

    func testCritiqueOffAnswersWithThePrimary() throws {
        proxy.stop()
        proxy = try ProxyFixture(["CRITIQUE_MODEL_NAME": ""])
        try proxy.script("primary", #"{"content":"<think>x</think>only primary"}"#)
        let r = try proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(r.header("X-Hydra-Critique"), "off")
        XCTAssertEqual(r.json?["choices"]?[0]?["message"]?["content"]?.stringValue, "only primary")
        XCTAssertEqual(proxy.fake.stats.requests, 1)
    }

    func testOpenWebUIBackgroundTaskCallsTheUpstreamOnce() throws {
        let task = ProxyFixture.chatBody("### Task:\nGenerate a concise title for the chat history.\n### Chat History:\nhi")
        let r = try proxy.chat(task)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("X-Hydra-Critique"), "skipped")
        XCTAssertEqual(proxy.fake.requests.map { $0.body["model"]?.stringValue }, ["primary"], "exactly one upstream call")

        let ordinary = ProxyFixture.chatBody("Please explain what the '### Task:' header in my prompt template does.")
        XCTAssertEqual(try proxy.chat(ordinary).header("X-Hydra-Critique"), "applied")
        XCTAssertEqual(proxy.fake.requests.count, 3, "an ordinary message mentioning a task gets both calls")
    }

    func testClientAuthorizationIsNeverForwarded() throws {
        proxy.stop()
        proxy = try ProxyFixture(["PROXY_API_KEY": "client-secret-123"])
        let r = try proxy.chat(ProxyFixture.chatBody(), headers: [("Authorization", "Bearer client-secret-123"), ("OpenAI-Organization", "org-1"),
                                                                 ("Cookie", "session=abc"), ("X-Api-Key", "other")])
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(proxy.fake.requests.count, 2)
        for call in proxy.fake.requests {
            XCTAssertEqual(call.headers["authorization"], "Bearer sk-upstream-key-0000", "the upstream gets its own key")
            XCTAssertFalse(call.headers.values.contains { $0.contains("client-secret-123") }, "client credential leaked: \(call.headers)")
            XCTAssertNil(call.headers["cookie"])
            XCTAssertNil(call.headers["x-api-key"])
            XCTAssertEqual(call.headers["openai-organization"], "org-1")
        }
    }

    func testNoUpstreamKeyMeansNoAuthorizationHeader() throws {
        proxy.stop()
        proxy = try ProxyFixture(["OPENAI_API_KEY": ""])
        _ = try proxy.chat(ProxyFixture.chatBody(), headers: [("Authorization", "Bearer whatever-the-client-sent")])
        XCTAssertEqual(proxy.fake.requests.count, 2)
        XCTAssertTrue(proxy.fake.requests.allSatisfy { $0.headers["authorization"] == nil }, "\(proxy.fake.requests.map(\.headers))")
    }

    func testValidationErrorsNameTheField() throws {
        let missing = try proxy.chat(#"{"model":"m"}"#).assertOpenAIError(status: 400)
        XCTAssertEqual(missing?["param"]?.stringValue, "messages")
        let role = try proxy.chat(#"{"messages":[{"content":"x"}]}"#).assertOpenAIError(status: 400)
        XCTAssertEqual(role?["param"]?.stringValue, "messages[0].role")
        _ = try proxy.chat("{not json").assertOpenAIError(status: 400)
        XCTAssertEqual(proxy.fake.stats.requests, 0)
    }

    func testPrimaryUnreachableIs502() throws {
        proxy.stop()
        proxy = try ProxyFixture(["PRIMARY_BASE_URL": "http://127.0.0.1:1/v1"])
        let error = try proxy.chat(ProxyFixture.chatBody()).assertOpenAIError(status: 502)
        XCTAssertEqual(error?["code"]?.stringValue, "upstream_unreachable")
    }

    func testPrimaryTimeoutIs504() throws {
        proxy.stop()
        proxy = try ProxyFixture(["UPSTREAM_TIMEOUT_SECONDS": "0.5"])
        try proxy.script("primary", #"{"hang":true}"#)
        let error = try proxy.chat(ProxyFixture.chatBody()).assertOpenAIError(status: 504)
        XCTAssertEqual(error?["code"]?.stringValue, "upstream_timeout")
    }

    /// An upstream that answers more than MAX_UPSTREAM_RESPONSE_BYTES is cut off with a clear
    /// error instead of being held in memory; the proxy keeps serving.
    func testEnormousUpstreamAnswerIsCappedAndTheProxyKeepsServing() throws {
        proxy.stop()
        proxy = try ProxyFixture(["MAX_UPSTREAM_RESPONSE_BYTES": "65536", "CRITIQUE_MODEL_NAME": ""])
        let huge = String(repeating: "x", count: 200_000)
        try proxy.script("primary", #"{"content":"\#(huge)"}"#)
        let error = try proxy.chat(ProxyFixture.chatBody()).assertOpenAIError(status: 502)
        XCTAssertEqual(error?["code"]?.stringValue, "upstream_too_large")
        let streamed = try proxy.chat(ProxyFixture.chatBody(stream: true))
        XCTAssertTrue(streamed.text.contains("upstream_too_large") || streamed.text.contains("data: [DONE]"), streamed.text)
        try proxy.script("primary", #"{"content":"small"}"#)
        XCTAssertEqual(try proxy.chat(ProxyFixture.chatBody()).status, 200)
    }

    /// A slow but steady upstream is not a dead one: the timeout is per silence, not per answer.
    func testSlowTrickleWithinTheTimeoutCompletes() throws {
        proxy.stop()
        proxy = try ProxyFixture(["UPSTREAM_TIMEOUT_SECONDS": "0.6", "CRITIQUE_MODEL_NAME": ""])
        try proxy.script("primary", #"{"chunks":["a","b","c","d","e"],"chunk_delay_ms":300}"#)
        let r = try proxy.chat(ProxyFixture.chatBody(stream: true), timeout: 10)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.text.contains("data: [DONE]"), r.text)
        XCTAssertFalse(r.text.contains("\"error\""), r.text)
        for piece in ["a", "b", "c", "d", "e"] { XCTAssertTrue(r.text.contains("\"content\":\"\(piece)\""), piece) }
    }

    func testUpstreamRejectionKeepsItsStatus() throws {
        try proxy.script("primary", #"{"status":400,"error_body":"{\"error\":{\"message\":\"maximum context length exceeded\"}}"}"#)
        let error = try proxy.chat(ProxyFixture.chatBody()).assertOpenAIError(status: 400)
        XCTAssertTrue(error?["message"]?.stringValue?.contains("maximum context length") ?? false)
        XCTAssertFalse(error?["message"]?.stringValue?.contains("sk-upstream-key") ?? true)
    }

    func testUnknownFieldsReachThePrimary() throws {
        _ = try proxy.chat(#"{"model":"x","messages":[{"role":"user","content":"hi"}],"temperature":0.10,"logit_bias":{"50256":-100},"vendor":{"a":[1,2.0]}}"#)
        let body = try XCTUnwrap(proxy.fake.requests(model: "primary").first?.body.objectValue)
        XCTAssertEqual(JSONWriter.string(.object(body)),
                       #"{"model":"primary","messages":[{"role":"user","content":"hi"}],"temperature":0.10,"logit_bias":{"50256":-100},"vendor":{"a":[1,2.0]},"stream":false}"#)
    }
}
