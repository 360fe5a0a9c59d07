import OpenAIWire
import XCTest
@testable import TestSupport

/// Streamed chat completions: SSE framing, heartbeats and in-stream errors, as a client parses them.
final class ProxyStreamingTests: XCTestCase {
    var proxy: ProxyFixture!

    override func setUpWithError() throws { proxy = try ProxyFixture() }
    override func tearDown() { proxy.stop() }

    func testFraming() throws {
        try proxy.script("critique", #"{"chunks":["Hel","lo ","world"]}"#)
        let r = try proxy.chat(ProxyFixture.chatBody(stream: true, extra: #","stream_options":{"include_usage":true}"#))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Content-Type"), "text/event-stream; charset=utf-8")
        XCTAssertEqual(r.header("Cache-Control"), "no-cache")
        XCTAssertEqual(r.header("Transfer-Encoding"), "chunked")
        XCTAssertEqual(r.header("X-Hydra-Critique"), "applied")
        XCTAssertNotNil(r.header("X-Request-Id"))
        XCTAssertTrue(r.text.hasSuffix("data: [DONE]\n\n"), r.text)
        XCTAssertEqual(r.events.last, "[DONE]")
        XCTAssertEqual(r.events.filter { $0 == "[DONE]" }.count, 1)
        // Every event is exactly one `data:` line followed by a blank line.
        for event in r.text.components(separatedBy: "\n\n").dropLast() {
            XCTAssertTrue(event.hasPrefix("data: ") && !event.contains("\n"), event.debugDescription)
        }

        let chunks = r.dataObjects
        XCTAssertGreaterThanOrEqual(chunks.count, 5)
        let first = try XCTUnwrap(chunks.first)
        XCTAssertEqual(first["choices"]?.arrayValue?.first?["delta"], .object(["role": .string("assistant"), "content": .string("")]),
                       "the role chunk comes first")
        let id = try XCTUnwrap(first["id"]?.stringValue)
        XCTAssertTrue(id.hasPrefix("chatcmpl-"))
        for c in chunks {
            XCTAssertEqual(c["id"]?.stringValue, id, "one id per stream")
            XCTAssertEqual(c["created"], first["created"])
            XCTAssertEqual(c["model"]?.stringValue, "hydracodedone")
            XCTAssertEqual(c["object"]?.stringValue, "chat.completion.chunk")
        }
        let text = chunks.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue }.joined()
        XCTAssertEqual(text, "Hello world")
        // The finish chunk, then the usage chunk (choices: []) with the sum of both calls.
        let finish = chunks[chunks.count - 2]
        XCTAssertEqual(finish["choices"]?.arrayValue?.first?["finish_reason"]?.stringValue, "stop")
        XCTAssertEqual(finish["choices"]?.arrayValue?.first?["delta"], .object([:]))
        let usage = chunks[chunks.count - 1]
        XCTAssertEqual(usage["choices"], .array([]))
        XCTAssertEqual(usage["usage"], .object(["prompt_tokens": .int(20), "completion_tokens": .int(10), "total_tokens": .int(20 + 10)]))
        // Only one finish_reason in the whole stream.
        XCTAssertEqual(chunks.filter { !($0["choices"]?.arrayValue?.first?["finish_reason"]?.isNull ?? true) }.count, 1)
    }

    func testNoUsageChunkUnlessAsked() throws {
        let r = try proxy.chat(ProxyFixture.chatBody(stream: true))
        XCTAssertFalse(r.dataObjects.contains { $0["usage"] != nil }, r.text)
        XCTAssertEqual(r.events.last, "[DONE]")
    }

    func testHeartbeatsWhileThePrimaryThinks() throws {
        proxy.stop()
        proxy = try ProxyFixture(["HEARTBEAT_SECONDS": "1"])
        try proxy.script("primary", #"{"content":"slow draft","first_delay_ms":2600}"#)
        let c = try proxy.client()
        try c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(ProxyFixture.chatBody(stream: true).utf8.count)\r\n\r\n" + ProxyFixture.chatBody(stream: true))
        let head = try c.readHead(timeout: 2)
        XCTAssertEqual(head.status, 200, "headers go out at once, before the upstream answers")
        let start = now()
        var arrivals: [(text: String, at: Double)] = []
        while let chunk = try c.readChunk(timeout: 10) {
            arrivals.append((String(decoding: chunk, as: UTF8.self), now() - start))
        }
        XCTAssertTrue(arrivals.first?.text.contains(#""role":"assistant""#) ?? false, "the role chunk is sent at once")
        XCTAssertLessThan(arrivals.first?.at ?? 99, 1.0)
        let firstContent = try XCTUnwrap(arrivals.firstIndex { $0.text.contains(#""content":""#) && !$0.text.contains(#""role""#) })
        let beats = arrivals[..<firstContent].filter { $0.text == ": keep-alive\n\n" }
        XCTAssertGreaterThanOrEqual(beats.count, 2, "expected a keep-alive every second while waiting: \(arrivals)")
        if let firstBeat = beats.first { XCTAssertTrue((0.7...2.2).contains(firstBeat.at), "first keep-alive after \(firstBeat.at) s") }
        XCTAssertEqual(arrivals.last?.text, "data: [DONE]\n\n")
    }

    func testInStreamErrorThenDone() throws {
        try proxy.script("primary", #"{"status":500,"error_body":"{\"error\":{\"message\":\"primary exploded\"}}"}"#)
        let r = try proxy.chat(ProxyFixture.chatBody(stream: true))
        XCTAssertEqual(r.status, 200, "the status line was already sent")
        let events = r.events
        XCTAssertEqual(events.last, "[DONE]")
        XCTAssertGreaterThanOrEqual(events.count, 3)
        let error = try XCTUnwrap(try? JSONParser.parse(events[events.count - 2]))
        XCTAssertEqual(error["error"]?.objectValue?.keys, ["message", "type", "param", "code"])
        XCTAssertTrue(error["error"]?["message"]?.stringValue?.contains("primary exploded") ?? false)
        XCTAssertFalse(r.dataObjects.contains { !($0["choices"]?.arrayValue?.first?["finish_reason"]?.isNull ?? true) },
                       "no finish chunk after an error")
    }

    func testCritiqueFallbackInAStream() throws {
        try proxy.script("primary", #"{"chunks":["the ","draft"]}"#)
        try proxy.script("critique", #"{"status":503}"#)
        let r = try proxy.chat(ProxyFixture.chatBody(stream: true))
        let text = r.dataObjects.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue }.joined()
        XCTAssertEqual(text, "the draft")
        XCTAssertEqual(r.events.last, "[DONE]")
        XCTAssertFalse(r.text.contains("\"error\""))
    }

    func testBackgroundTaskStreamsThePrimaryLive() throws {
        try proxy.script("primary", #"{"chunks":["Title"]}"#)
        let r = try proxy.chat(ProxyFixture.chatBody("### Task:\nSuggest a title", stream: true))
        XCTAssertEqual(r.header("X-Hydra-Critique"), "skipped")
        XCTAssertEqual(proxy.fake.requests.count, 1)
        XCTAssertTrue(r.text.contains(#""content":"Title""#))
    }
}
