import FakeUpstream
import OpenAIWire
import XCTest
@testable import TestSupport

/// What a user (or their client) can tell about the critique from the answer itself: the `hydra`
/// object, the note in the reasoning on a fallback, and the draft that is never lost.
final class CritiqueSignalTests: XCTestCase {
    func finalChunk(_ r: RawResponse) -> JSONValue? {
        r.dataObjects.last { !($0["choices"]?[0]?["finish_reason"]?.isNull ?? true) }
    }

    func testStreamsAndAnswersSayTheCritiqueWasApplied() throws {
        let proxy = try ProxyFixture()
        defer { proxy.stop() }
        let streamed = try proxy.chat(ProxyFixture.chatBody(stream: true))
        let hydra = try XCTUnwrap(finalChunk(streamed)?["hydra"]?.objectValue, streamed.text)
        XCTAssertEqual(hydra["critique"]?.stringValue, "applied")
        XCTAssertEqual(hydra["rounds"]?.intValue, 1)
        XCTAssertNotNil(hydra["timings_ms"]?["primary"]?.intValue, streamed.text)
        XCTAssertNotNil(hydra["timings_ms"]?["critique"]?.intValue, streamed.text)
        // Only the final chunk carries it.
        XCTAssertEqual(streamed.dataObjects.filter { $0["hydra"] != nil }.count, 1, streamed.text)

        let whole = try proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(whole.json?["hydra"]?["critique"]?.stringValue, "applied", whole.text)
    }

    func testAFallbackInAStreamIsVisibleInTheFinalChunk() throws {
        let proxy = try ProxyFixture()
        defer { proxy.stop() }
        try proxy.script("primary", #"{"chunks":["the ","draft"]}"#)
        try proxy.script("critique", #"{"status":503,"error_body":"{\"error\":{\"message\":\"critique overloaded\"}}"}"#)
        let r = try proxy.chat(ProxyFixture.chatBody(stream: true))
        XCTAssertEqual(r.contentText, "the draft")
        let hydra = try XCTUnwrap(finalChunk(r)?["hydra"]?.objectValue, r.text)
        XCTAssertEqual(hydra["critique"]?.stringValue, "fallback")
        XCTAssertTrue(hydra["reason"]?.stringValue?.contains("critique overloaded") ?? false, r.text)
        XCTAssertEqual(hydra["rounds"]?.intValue, 0)
        // Without SHOW_DRAFT nothing is added to the reasoning.
        XCTAssertFalse(r.text.contains("reasoning_content"), r.text)
    }

    func testSkippedCritiquesSayWhy() throws {
        let proxy = try ProxyFixture()
        defer { proxy.stop() }
        let background = try proxy.chat(ProxyFixture.chatBody("### Task:\nSuggest a title", stream: true))
        XCTAssertEqual(finalChunk(background)?["hydra"]?["critique"]?.stringValue, "skipped", background.text)
        XCTAssertEqual(finalChunk(background)?["hydra"]?["reason"]?.stringValue, "background task", background.text)

        try proxy.script("primary", #"{"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}"#)
        let tools = try proxy.chat(ProxyFixture.chatBody(stream: true))
        XCTAssertEqual(finalChunk(tools)?["hydra"]?["critique"]?.stringValue, "skipped", tools.text)
        XCTAssertEqual(finalChunk(tools)?["hydra"]?["reason"]?.stringValue, "tool calls", tools.text)

        let off = try ProxyFixture(["CRITIQUE_MODEL_NAME": ""])
        defer { off.stop() }
        let r = try off.chat(ProxyFixture.chatBody(stream: true))
        XCTAssertEqual(finalChunk(r)?["hydra"]?["critique"]?.stringValue, "off", r.text)
    }

    func testWithShowDraftAFallbackSaysSoInTheReasoning() throws {
        let proxy = try ProxyFixture(["SHOW_DRAFT": "reasoning"])
        defer { proxy.stop() }
        try proxy.script("primary", #"{"chunks":["the ","draft"]}"#)
        try proxy.script("critique", #"{"status":500}"#)
        let r = try proxy.chat(ProxyFixture.chatBody(stream: true))
        let reasoning = r.dataObjects.compactMap { $0["choices"]?[0]?["delta"]?["reasoning_content"]?.stringValue }.joined()
        XCTAssertTrue(reasoning.hasPrefix("the draft"), reasoning)
        XCTAssertTrue(reasoning.contains("critique unavailable"), reasoning)
        XCTAssertTrue(reasoning.contains("unreviewed draft"), reasoning)
        XCTAssertEqual(r.contentText, "the draft")
        XCTAssertEqual(finalChunk(r)?["hydra"]?["critique"]?.stringValue, "fallback")

        let whole = try proxy.chat(ProxyFixture.chatBody())
        XCTAssertTrue(whole.json?["choices"]?[0]?["message"]?["reasoning_content"]?.stringValue?.contains("critique unavailable") ?? false, whole.text)
        XCTAssertEqual(whole.json?["hydra"]?["critique"]?.stringValue, "fallback", whole.text)
    }

    /// The critique breaks off after a few words: the client has a fragment, the proxy held the
    /// whole draft. The draft is delivered (as reasoning) before the error event, which says so.
    func testACritiqueThatBreaksOffStillDeliversTheDraft() throws {
        let proxy = try ProxyFixture()
        defer { proxy.stop() }
        try proxy.script("primary", #"{"chunks":["complete ","draft ","text"]}"#)
        try proxy.script("critique", #"{"chunks":["a ","b ","c ","d ","e ","f"],"reset":"mid_stream"}"#)
        let r = try proxy.chat(ProxyFixture.chatBody(stream: true))
        let events = r.events
        XCTAssertEqual(events.last, "[DONE]", r.text)
        let error = try XCTUnwrap(events.dropLast().last.flatMap { try? JSONParser.parse($0) }, r.text)
        let message = try XCTUnwrap(error["error"]?["message"]?.stringValue, r.text)
        XCTAssertTrue(message.contains("draft was delivered as reasoning_content"), message)
        XCTAssertFalse(r.contentText.isEmpty, "the critique's first words were relayed")
        let reasoning = r.dataObjects.compactMap { $0["choices"]?[0]?["delta"]?["reasoning_content"]?.stringValue }.joined()
        XCTAssertEqual(reasoning, "complete draft text", r.text)
    }
}

extension CritiqueSignalTests {
    /// After a tool round-trip the critique sees the calls and results as text, in alternating
    /// roles, with no `tool_calls`/`role: tool` an upstream without `tools` could reject.
    func testToolTurnsReachTheCritiqueAsText() throws {
        let proxy = try ProxyFixture()
        defer { proxy.stop() }
        let body = #"""
        {"model":"hydracodedone","tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],
         "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Weather in Oslo?"},
          {"role":"assistant","content":null,"tool_calls":[{"id":"call_9","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
          {"role":"tool","tool_call_id":"call_9","content":"-3 C, snow"},
          {"role":"user","content":"And should I cycle?"}]}
        """#
        let r = try proxy.chat(body)
        XCTAssertEqual(r.status, 200, r.text)
        let critique = try XCTUnwrap(proxy.fake.requests(model: "critique").last?.body)
        let messages = try XCTUnwrap(critique["messages"]?.arrayValue)
        XCTAssertNil(critique["tools"], "the critique must not be offered tools")
        XCTAssertFalse(messages.contains { $0["role"]?.stringValue == "tool" || $0["tool_calls"] != nil }, "\(messages)")
        let roles = messages.compactMap { $0["role"]?.stringValue }.filter { $0 != "system" }
        XCTAssertEqual(roles, ["user", "assistant", "user", "assistant", "user"], "roles must alternate: \(messages)")
        let text = messages.compactMap { $0["content"]?.stringValue }.joined(separator: "\n")
        XCTAssertTrue(text.contains(#"[called tool get_weather with arguments {"city":"Oslo"}]"#), text)
        XCTAssertTrue(text.contains("[result of tool get_weather]\n-3 C, snow"), text)
        XCTAssertTrue(text.contains("And should I cycle?"), text)
        // The primary got the conversation exactly as sent, tools included.
        let primary = try XCTUnwrap(proxy.fake.requests(model: "primary").last?.body)
        XCTAssertNotNil(primary["tools"])
        XCTAssertTrue(primary["messages"]?.arrayValue?.contains { $0["role"]?.stringValue == "tool" } ?? false)
    }
}

extension RawResponse {
    var contentText: String {
        dataObjects.compactMap { $0["choices"]?[0]?["delta"]?["content"]?.stringValue }.joined()
    }
}
