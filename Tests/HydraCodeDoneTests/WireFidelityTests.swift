import FakeUpstream
import OpenAIWire
import XCTest
@testable import TestSupport

/// Fields OpenAI's schema requires or clients rely on, whatever the upstream left out or added.
final class WireFidelityTests: XCTestCase {
    func testEveryJSONAnswerCarriesRefusalTextAndToolCallsAlike() throws {
        let proxy = try ProxyFixture()
        defer { proxy.stop() }
        let text = try proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(text.status, 200)
        XCTAssertEqual(text.json?["choices"]?[0]?["message"]?["refusal"], .null, text.text)

        try proxy.script("primary", #"{"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}"#)
        let tools = try proxy.chat(ProxyFixture.chatBody())
        let message = try XCTUnwrap(tools.json?["choices"]?[0]?["message"]?.objectValue, tools.text)
        XCTAssertEqual(message["refusal"], .null)
        XCTAssertEqual(message["content"], .null)
        XCTAssertNotNil(message["tool_calls"]?.arrayValue)
        XCTAssertEqual(tools.header("X-Hydra-Critique"), "skipped", "tool calls are returned without a critique")
    }

    func testAnUpstreamRefusalIsKept() throws {
        let fixture = try HostileUpstreamFixture(["CRITIQUE_MODEL_NAME": ""]) { _, _, c in
            c.respond(body: completionJSON(content: "", extraMessage: #","refusal":"I can't help with that""#))
        }
        defer { fixture.stop() }
        let r = try fixture.proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(r.json?["choices"]?[0]?["message"]?["refusal"]?.stringValue, "I can't help with that", r.text)
    }

    /// `system_fingerprint` and `service_tier` come from the stage whose text the client gets.
    func testFingerprintAndServiceTierOfTheAnsweringStageAreKept() throws {
        let fixture = try HostileUpstreamFixture { _, body, c in
            let who = stage(body) == "critique" ? "fp_critique" : "fp_primary"
            let tier = stage(body) == "critique" ? "flex" : "default"
            if body?["stream"]?.boolValue == true {
                c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
                for (delta, finish) in [(#"{"role":"assistant","content":"hi"}"#, "null"), ("{}", #""stop""#)] {
                    c.write(#"data: {"id":"s","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"\#(who)","service_tier":"\#(tier)","choices":[{"index":0,"delta":\#(delta),"finish_reason":\#(finish)}]}"# + "\n\n")
                }
                c.write("data: [DONE]\n\n")
            } else {
                c.respond(body: #"{"id":"c","object":"chat.completion","created":1,"model":"m","system_fingerprint":"\#(who)","service_tier":"\#(tier)","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#)
            }
        }
        defer { fixture.stop() }
        let whole = try fixture.proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(whole.json?["system_fingerprint"]?.stringValue, "fp_critique", whole.text)
        XCTAssertEqual(whole.json?["service_tier"]?.stringValue, "flex", whole.text)

        let streamed = try fixture.proxy.chat(ProxyFixture.chatBody(stream: true))
        let content = streamed.dataObjects.filter { $0["choices"]?[0]?["delta"]?["content"]?.stringValue == "hi" }
        XCTAssertFalse(content.isEmpty, streamed.text)
        for chunk in content {
            XCTAssertEqual(chunk["system_fingerprint"]?.stringValue, "fp_critique", streamed.text)
            XCTAssertEqual(chunk["service_tier"]?.stringValue, "flex", streamed.text)
        }
    }
}
