import OpenAIWire
import XCTest
@testable import TestSupport

/// Answers that parse as JSON but break OpenAI's schema, or use its optional fields loosely.
final class HostileUpstreamContentTests: XCTestCase {
    func testNonStringContentIsA502Invalid() throws {
        for content in ["123", #"{"a":1}"#, "[1,2]", "true"] {
            let fixture = try HostileUpstreamFixture { _, _, c in
                c.respond(body: #"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":\#(content)},"finish_reason":"stop"}]}"#)
            }
            defer { fixture.stop() }
            let r = try fixture.proxy.chat(ProxyFixture.chatBody())
            let error = r.assertOpenAIError(status: 502)
            XCTAssertEqual(error?["code"]?.stringValue, "upstream_invalid", "content \(content): \(r.text)")
            XCTAssertTrue(error?["message"]?.stringValue?.contains("content") ?? false, r.text)
        }
    }

    func testNonStringStreamedContentIsAnErrorEvent() throws {
        let fixture = try HostileUpstreamFixture(["CRITIQUE_MODEL_NAME": ""]) { _, _, c in
            c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            c.write(chunkEvent(delta: #"{"content":{"a":1}}"#) + "data: [DONE]\n\n")
        }
        defer { fixture.stop() }
        let r = try fixture.proxy.chat(ProxyFixture.chatBody(stream: true))
        let error = r.dataObjects.first { $0["error"] != nil }?["error"]
        XCTAssertEqual(error?["code"]?.stringValue, "upstream_invalid", r.text)
        XCTAssertFalse(r.text.contains(#""a":1"#), "the invalid content was relayed: \(r.text)")
    }

    /// `"tool_calls": null` or `[]` beside text is no tool call: the critique still runs.
    func testNullOrEmptyStreamedToolCallsDoNotSkipTheCritique() throws {
        for calls in ["null", "[]"] {
            let fixture = try HostileUpstreamFixture { _, body, c in
                c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
                if stage(body) == "critique" {
                    c.write(chunkEvent(delta: #"{"content":"refined answer"}"#) + chunkEvent(delta: "{}", finish: "stop") + "data: [DONE]\n\n")
                } else {
                    c.write(chunkEvent(delta: #"{"role":"assistant","content":"draft","tool_calls":\#(calls)}"#)
                            + chunkEvent(delta: #"{"tool_calls":\#(calls)}"#, finish: "stop") + "data: [DONE]\n\n")
                }
            }
            defer { fixture.stop() }
            let r = try fixture.proxy.chat(ProxyFixture.chatBody(stream: true))
            XCTAssertEqual(r.status, 200)
            let content = r.dataObjects.compactMap { $0["choices"]?[0]?["delta"]?["content"]?.stringValue }.joined()
            XCTAssertEqual(content, "refined answer", "tool_calls \(calls): \(r.text)")
            XCTAssertFalse(r.text.contains("tool_calls"), r.text)
            XCTAssertEqual(fixture.upstream.connectionsAccepted >= 2, true, "the critique was never called")
        }
    }
}
