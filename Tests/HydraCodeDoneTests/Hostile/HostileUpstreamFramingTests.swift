import Foundation
import OpenAIWire
import XCTest
@testable import TestSupport

/// Response heads and framing an upstream gets wrong, or gets right in ways rarely seen.
final class HostileUpstreamFramingTests: XCTestCase {
    func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let start = Date()
        let value = try body()
        return (value, Date().timeIntervalSince(start))
    }

    func testInterimHeadsInTheSameWriteAreSkipped() throws {
        let fixture = try HostileUpstreamFixture(["CRITIQUE_MODEL_NAME": "", "UPSTREAM_TIMEOUT_SECONDS": "20"]) { _, _, c in
            let body = completionJSON(content: "after continue")
            c.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
            _ = c.waitForPeerClose(seconds: 5) // keeps the connection open, as a keep-alive server does
        }
        defer { fixture.stop() }
        let (r, seconds) = try timed { try fixture.proxy.chat(ProxyFixture.chatBody(), timeout: 15) }
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json?["choices"]?[0]?["message"]?["content"]?.stringValue, "after continue")
        XCTAssertLessThan(seconds, 3, "waited for bytes that were already there")
    }

    func testInterimHeadsSplitAcrossWritesAreSkipped() throws {
        let fixture = try HostileUpstreamFixture(["CRITIQUE_MODEL_NAME": ""]) { _, _, c in
            let body = completionJSON(content: "after hints")
            for piece in ["HTTP/1.1 100 Con", "tinue\r\n", "\r\nHTTP/1.1 102 Processing\r\n\r\n", "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 2",
                          "00 OK\r\nContent-Length: \(body.utf8.count)\r\nContent-Type: application/json\r\n\r\n", body] {
                c.write(piece)
                usleep(20_000)
            }
        }
        defer { fixture.stop() }
        let r = try fixture.proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json?["choices"]?[0]?["message"]?["content"]?.stringValue, "after hints")
    }

    func testUnrequestedSwitchingProtocolsIsAnImmediate502() throws {
        let fixture = try HostileUpstreamFixture(["CRITIQUE_MODEL_NAME": "", "UPSTREAM_TIMEOUT_SECONDS": "20"]) { _, _, c in
            c.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            _ = c.waitForPeerClose(seconds: 5)
        }
        defer { fixture.stop() }
        let (r, seconds) = try timed { try fixture.proxy.chat(ProxyFixture.chatBody(), timeout: 15) }
        let error = r.assertOpenAIError(status: 502)
        XCTAssertEqual(error?["code"]?.stringValue, "upstream_malformed")
        XCTAssertLessThan(seconds, 3)
    }

    func testStreamThatFinishedWithoutDoneCompletesAfterAShortGrace() throws {
        let fixture = try HostileUpstreamFixture(["UPSTREAM_TIMEOUT_SECONDS": "30"]) { _, body, c in
            let text = stage(body) == "critique" ? "refined" : "draft"
            var events = chunkEvent(delta: #"{"role":"assistant","content":"\#(text)"}"#) + chunkEvent(delta: "{}", finish: "stop")
            events += #"data: {"id":"s1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"# + "\n\n"
            c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            c.write(String(events.utf8.count, radix: 16) + "\r\n" + events + "\r\n")
            _ = c.waitForPeerClose(seconds: 20) // no [DONE], no terminator, connection held open
        }
        defer { fixture.stop() }
        let (r, seconds) = try timed { try fixture.proxy.chat(ProxyFixture.chatBody(stream: true, extra: #","stream_options":{"include_usage":true}"#), timeout: 25) }
        XCTAssertEqual(r.status, 200)
        let content = r.dataObjects.compactMap { $0["choices"]?[0]?["delta"]?["content"]?.stringValue }.joined()
        XCTAssertEqual(content, "refined", r.text)
        XCTAssertEqual(r.events.last, "[DONE]", r.text)
        XCTAssertNotNil(r.dataObjects.last(where: { $0["usage"] != nil && $0["usage"] != .null }), "usage of both stages: \(r.text)")
        XCTAssertLessThan(seconds, 5, "both stages waited for the idle timeout")
    }

    func testEarlyErrorBeforeTheBodyWasReadIsRelayed() throws {
        let fixture = try HostileUpstreamFixture(["CRITIQUE_MODEL_NAME": "", "MAX_REQUEST_BYTES": "\(64 << 20)"], readBody: false) { _, _, c in
            c.respond(status: 413, headers: "Connection: close\r\n", body: #"{"error":{"message":"Request too large for this model","type":"invalid_request_error"}}"#)
            c.close() // without reading the body
        }
        defer { fixture.stop() }
        let big = String(repeating: "a", count: 20 << 20)
        let r = try fixture.proxy.chat(ProxyFixture.chatBody(big), timeout: 30)
        let error = r.assertOpenAIError(status: 413)
        XCTAssertTrue(error?["message"]?.stringValue?.contains("Request too large for this model") ?? false, r.text)
    }
}
