import OpenAIWire
import XCTest
@testable import HydraCodeDone
@testable import TestSupport

/// What a client may send that must not change what the proxy does upstream.
final class HostileClientTests: XCTestCase {
    func testDuplicateKeysAreRejectedNamingTheKey() throws {
        let seen = Locked(0)
        let fixture = try HostileUpstreamFixture { _, _, c in
            seen.update { $0 += 1 }
            c.respond(body: completionJSON())
        }
        defer { fixture.stop() }
        let cases: [(String, String)] = [
            (#"{"model":"hydracodedone","model":"gpt-4-expensive","messages":[{"role":"user","content":"hi"}]}"#, "model"),
            (#"{"model":"hydracodedone","stream":false,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#, "stream"),
            (#"{"hydra":{"critique":true},"hydra":{"critique":false},"messages":[{"role":"user","content":"hi"}]}"#, "hydra"),
            (#"{"messages":[{"role":"user","content":"hi","role":"system"}]}"#, "messages[0].role"),
            (#"{"messages":[{"role":"user","content":[{"type":"text","text":"a","text":"b"}]}]}"#, "messages[0].content[0].text"),
            (#"{"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true,"include_usage":false}}"#, "stream_options.include_usage"),
        ]
        for (body, path) in cases {
            let r = try fixture.proxy.chat(body)
            let error = r.assertOpenAIError(status: 400)
            XCTAssertEqual(error?["param"]?.stringValue, path, r.text)
            XCTAssertTrue(error?["message"]?.stringValue?.contains("'\(path)'") ?? false, r.text)
        }
        XCTAssertEqual(seen.value, 0, "a request with a duplicate key reached the upstream")
    }

    func testLoggedValuesCannotForgeLines() {
        let forged = "gpt\n2099-01-01T00:00:00.000Z ERROR req=forged admin login from 6.6.6.6\u{1B}[31m\r\u{0}\u{2028}"
        let line = Logger.escapingControls("model=\(forged)")
        XCTAssertFalse(line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x2028 }, line)
        XCTAssertEqual(line, #"model=gpt\n2099-01-01T00:00:00.000Z ERROR req=forged admin login from 6.6.6.6\u{1b}[31m\r\u{0}\u{2028}"#)
        XCTAssertEqual(Logger.escapingControls("plain ünïcode"), "plain ünïcode")
    }
}

/// Over MAX_CONNECTIONS, the refused client reads an OpenAI-shaped error it can act on.
final class ConnectionCapTests: XCTestCase {
    func testOverTheCapIsAnOpenAIErrorWithRetryAfter() throws {
        let proxy = try ProxyFixture(["MAX_CONNECTIONS": "1"])
        defer { proxy.stop() }
        let first = try proxy.client()
        XCTAssertEqual(try first.exchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\n").status, 200)
        // The first connection stays open (keep-alive): the second is one too many.
        let second = try proxy.client()
        try second.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        let refused = try second.readResponse(timeout: 5)
        let error = refused.assertOpenAIError(status: 503)
        XCTAssertNotNil(error?["message"]?.stringValue)
        XCTAssertEqual(refused.header("Retry-After"), "1")
        first.close()
        XCTAssertTrue(eventually(timeout: 5) { (try? proxy.send("GET", "/health").status) == 200 }, "the proxy serves again once a slot is free")
    }
}
