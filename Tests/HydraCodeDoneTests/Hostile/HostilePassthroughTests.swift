import OpenAIWire
import XCTest
@testable import TestSupport

/// PASSTHROUGH_MODELS relays the upstream's answer: never its smuggled headers or broken framing.
final class HostilePassthroughTests: XCTestCase {
    let body = #"{"model":"raw-model","messages":[{"role":"user","content":"hi"}]}"#

    func testHeaderValuesWithBareCROrNULNeverReachTheClient() throws {
        for injected in ["application/json\rSet-Cookie: hijacked=1", "application/json\u{0}Set-Cookie: hijacked=1"] {
            let fixture = try HostileUpstreamFixture(["PASSTHROUGH_MODELS": "true"]) { _, _, c in
                c.write("HTTP/1.1 200 OK\r\nContent-Type: \(injected)\r\nContent-Length: 2\r\n\r\n{}")
            }
            defer { fixture.stop() }
            try fixture.waitForPassthroughModels()
            let client = try fixture.proxy.client()
            try client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
            let raw = client.readToEnd(timeout: 3)
            let text = String(decoding: raw, as: UTF8.self)
            XCTAssertFalse(text.contains("hijacked"), text.debugDescription)
            XCTAssertFalse(raw.contains(0), "a NUL reached the client")
            XCTAssertTrue(text.hasPrefix("HTTP/1.1 502 "), text.debugDescription)
            fixture.assertStillServing()
        }
    }

    func testOnlyAllowListedHeadersAreCopied() throws {
        let fixture = try HostileUpstreamFixture(["PASSTHROUGH_MODELS": "true"]) { _, _, c in
            c.respond(headers: "Set-Cookie: session=upstream\r\nX-Ratelimit-Remaining-Requests: 9\r\nServer: upstream/1.0\r\n", body: completionJSON())
        }
        defer { fixture.stop() }
        try fixture.waitForPassthroughModels()
        let r = try fixture.proxy.chat(body)
        XCTAssertEqual(r.status, 200)
        XCTAssertNil(r.header("Set-Cookie"))
        XCTAssertNil(r.header("Server"))
        XCTAssertEqual(r.header("X-Ratelimit-Remaining-Requests"), "9")
    }

    func testBodylessStatusesAreFramedWithoutABody() throws {
        for status in [204, 304] {
            let fixture = try HostileUpstreamFixture(["PASSTHROUGH_MODELS": "true"]) { _, _, c in
                c.write("HTTP/1.1 \(status) X\r\nTransfer-Encoding: chunked\r\n\r\n")
            }
            defer { fixture.stop() }
            try fixture.waitForPassthroughModels()
            let client = try fixture.proxy.client()
            let request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            let first = try client.exchange(request)
            XCTAssertEqual(first.status, status)
            XCTAssertNil(first.header("Transfer-Encoding"), "\(status) must not announce a body")
            // The next answer on the same connection parses: nothing stray was left on the wire.
            let second = try client.exchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(second.status, 200, second.text)
            XCTAssertTrue(client.pending.isEmpty, "stray bytes after the \(status): \(client.pending)")
        }
    }

    func testStatusesOutsideHTTPsRangeAre502() throws {
        for status in [600, 999, 42] {
            let fixture = try HostileUpstreamFixture(["PASSTHROUGH_MODELS": "true"]) { _, _, c in
                c.write("HTTP/1.1 \(status) Odd\r\nContent-Length: 2\r\n\r\n{}")
            }
            defer { fixture.stop() }
            try fixture.waitForPassthroughModels()
            let r = try fixture.proxy.chat(body)
            let error = r.assertOpenAIError(status: 502)
            XCTAssertEqual(error?["code"]?.stringValue, "upstream_malformed", "status \(status)")
        }
    }
}
