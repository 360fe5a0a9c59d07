import OpenAIWire
import XCTest
@testable import TestSupport

/// The upstream key never reaches a client, however the upstream words or cuts its echo.
final class HostileUpstreamSecretsTests: XCTestCase {
    let key = HostileUpstreamFixture.key
    static let key = HostileUpstreamFixture.key

    func assertNoKey(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        // Not the key, and no cut-off piece of it either (its first 8 characters are enough to match).
        XCTAssertFalse(text.contains(String(key.prefix(8))), "key material reached the client: \(text)", file: file, line: line)
        XCTAssertFalse(text.contains(String(key.dropFirst(8).prefix(12))), "key material reached the client: \(text)", file: file, line: line)
    }

    func testJSONErrorWithTheKeyPastTheCutIsMaskedBeforeCutting() throws {
        let message = String(repeating: "x", count: 484) + Self.key
        let fixture = try HostileUpstreamFixture { _, _, c in
            c.respond(status: 401, body: #"{"error":{"message":"\#(message)","type":"invalid_request_error"}}"#)
        }
        defer { fixture.stop() }
        let r = try fixture.proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(r.status, 401, r.text)
        assertNoKey(r.text)
        XCTAssertTrue(r.text.contains("xxxx"), "the upstream's own words still come through: \(r.text)")
    }

    func testPlainTextErrorWithTheKeyPastTheCutIsMasked() throws {
        let fixture = try HostileUpstreamFixture { _, _, c in
            c.respond(status: 500, contentType: "text/plain", body: String(repeating: "y", count: 186) + Self.key)
        }
        defer { fixture.stop() }
        let r = try fixture.proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(r.status, 502, r.text)
        assertNoKey(r.text)
    }

    func testStreamedErrorEventWithTheKeyIsMasked() throws {
        let fixture = try HostileUpstreamFixture(["CRITIQUE_MODEL_NAME": ""]) { _, _, c in
            c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            c.write(#"data: {"error":{"message":"bad key \#(Self.key.prefix(20))"}}"# + "\n\n")
        }
        defer { fixture.stop() }
        let r = try fixture.proxy.chat(ProxyFixture.chatBody(stream: true))
        assertNoKey(r.text)
        XCTAssertTrue(r.text.contains("bad key"), r.text)
    }

    func testPassthroughBodiesNeverCarryTheKey() throws {
        let fixture = try HostileUpstreamFixture(["PASSTHROUGH_MODELS": "true"]) { _, _, c in
            // An upstream that echoes the request's Authorization header in its 401 body.
            c.respond(status: 401, body: #"{"error":{"message":"Invalid header Authorization: Bearer \#(Self.key) for this project"}}"#)
        }
        defer { fixture.stop() }
        try fixture.waitForPassthroughModels()
        let r = try fixture.proxy.chat(#"{"model":"raw-model","messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(r.status, 401, r.text)
        XCTAssertEqual(r.header("X-Hydra-Critique"), "passthrough")
        assertNoKey(r.text)
        XCTAssertTrue(r.text.contains("for this project"), r.text)
    }

    func testPassthroughStreamSplitInsideTheKeyIsMasked() throws {
        let fixture = try HostileUpstreamFixture(["PASSTHROUGH_MODELS": "true"]) { _, _, c in
            c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            // The key arrives in pieces, each its own chunk and write.
            let text = "data: echo \(Self.key) end\n\n"
            var rest = Substring(text)
            while !rest.isEmpty {
                let piece = rest.prefix(7)
                rest = rest.dropFirst(7)
                c.write(String(piece.utf8.count, radix: 16) + "\r\n" + piece + "\r\n")
                usleep(5_000)
            }
            c.write("0\r\n\r\n")
        }
        defer { fixture.stop() }
        try fixture.waitForPassthroughModels()
        let r = try fixture.proxy.chat(#"{"model":"raw-model","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(r.status, 200, r.text)
        assertNoKey(r.text)
        XCTAssertTrue(r.text.contains("echo *** end"), r.text)
    }
}
