import Foundation
import OpenAIWire
import XCTest
@testable import TestSupport

/// A client that leaves stops the upstream work; a full proxy queues or refuses clearly.
final class ProxyLoadAndDisconnectTests: XCTestCase {
    var proxy: ProxyFixture!

    override func tearDown() { proxy?.stop() }

    static func request(_ body: String) -> String {
        "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    func testClientLeavingAStreamClosesTheUpstream() throws {
        proxy = try ProxyFixture(["CRITIQUE_MODEL_NAME": ""])
        try proxy.script("primary", #"{"chunks":["a ","b ","c ","d ","e ","f ","g ","h"],"chunk_delay_ms":300}"#)
        let c = try proxy.client()
        try c.send(Self.request(ProxyFixture.chatBody(stream: true)))
        _ = try c.readHead()
        _ = try c.readChunk() // the role chunk
        XCTAssertNotNil(try c.readChunk(), "first content chunk")
        let fake = proxy.fake
        XCTAssertEqual(fake.stats.active, 1)
        let closedAt = now()
        c.close()
        XCTAssertTrue(eventually(timeout: 1.5) { fake.stats.disconnects == 1 }, "the upstream kept streaming to nobody: \(fake.stats)")
        XCTAssertLessThan(now() - closedAt, 1.2)
        XCTAssertEqual(fake.stats.completed, 0)
    }

    func testClientLeavingDuringTheCritiqueClosesIt() throws {
        proxy = try ProxyFixture()
        try proxy.script("critique", #"{"chunks":["a ","b ","c ","d ","e ","f ","g ","h"],"chunk_delay_ms":300}"#)
        let c = try proxy.client()
        try c.send(Self.request(ProxyFixture.chatBody(stream: true)))
        _ = try c.readHead()
        _ = try c.readChunk()
        XCTAssertNotNil(try c.readChunk(timeout: 5))
        c.close()
        let fake = proxy.fake
        XCTAssertTrue(eventually(timeout: 1.5) { fake.stats.disconnects == 1 }, "\(fake.stats)")
        XCTAssertEqual(fake.stats.completed, 1, "only the primary finished")
    }

    func testClientLeavingANonStreamedRequestClosesTheUpstream() throws {
        proxy = try ProxyFixture()
        try proxy.script("primary", #"{"hang":true}"#)
        let c = try proxy.client()
        try c.send(Self.request(ProxyFixture.chatBody()))
        let fake = proxy.fake
        XCTAssertTrue(eventually(timeout: 3) { fake.stats.requests == 1 })
        c.close()
        XCTAssertTrue(eventually(timeout: 1.5) { fake.stats.disconnects == 1 }, "\(fake.stats)")
    }

    func testFullProxyAnswers429() throws {
        proxy = try ProxyFixture(["MAX_CONCURRENT_REQUESTS": "1", "MAX_QUEUED_REQUESTS": "0", "CRITIQUE_MODEL_NAME": ""])
        try proxy.script("primary", #"{"content":"slow","first_delay_ms":800}"#)
        let first = try proxy.client()
        try first.send(Self.request(ProxyFixture.chatBody()))
        let fake = proxy.fake
        XCTAssertTrue(eventually(timeout: 3) { fake.stats.requests == 1 })
        let refused = try proxy.chat(ProxyFixture.chatBody())
        let error = refused.assertOpenAIError(status: 429)
        XCTAssertEqual(error?["type"]?.stringValue, "rate_limit_error")
        XCTAssertNotNil(refused.header("Retry-After"))
        XCTAssertEqual(try first.readResponse().status, 200)
        XCTAssertEqual(try proxy.chat(ProxyFixture.chatBody()).status, 200, "the slot is free again")
        XCTAssertEqual(try proxy.chat(ProxyFixture.chatBody(stream: true)).status, 200, "and after a stream")
        XCTAssertEqual(try proxy.chat(ProxyFixture.chatBody()).status, 200, "a finished stream released its slot")
    }

    func testQueuedRequestWaitsItsTurn() throws {
        proxy = try ProxyFixture(["MAX_CONCURRENT_REQUESTS": "1", "MAX_QUEUED_REQUESTS": "1", "CRITIQUE_MODEL_NAME": ""])
        try proxy.script("primary", #"{"content":"slow","first_delay_ms":500}"#)
        let first = try proxy.client(), second = try proxy.client()
        try first.send(Self.request(ProxyFixture.chatBody()))
        let fake = proxy.fake
        XCTAssertTrue(eventually(timeout: 3) { fake.stats.requests == 1 })
        try second.send(Self.request(ProxyFixture.chatBody()))
        usleep(200_000)
        XCTAssertEqual(fake.stats.requests, 1, "the queued request must wait for the slot")
        XCTAssertEqual(try first.readResponse().status, 200)
        XCTAssertEqual(try second.readResponse().status, 200)
        XCTAssertEqual(fake.stats.requests, 2)
    }

    /// A queued stream gets its headers and `: keep-alive` comments while it waits for a slot, so
    /// reverse proxies do not cut it; it is answered in full once the slot frees.
    func testQueuedStreamGetsHeartbeatsWhileWaiting() throws {
        proxy = try ProxyFixture(["MAX_CONCURRENT_REQUESTS": "1", "MAX_QUEUED_REQUESTS": "1", "CRITIQUE_MODEL_NAME": "",
                                  "HEARTBEAT_SECONDS": "0.2"])
        try proxy.script("primary", #"{"content":"slow answer","first_delay_ms":1200}"#)
        let first = try proxy.client(), queued = try proxy.client()
        try first.send(Self.request(ProxyFixture.chatBody()))
        let fake = proxy.fake
        XCTAssertTrue(eventually(timeout: 3) { fake.stats.requests == 1 })
        try queued.send(Self.request(ProxyFixture.chatBody(stream: true)))
        // Headers and heartbeats arrive while the first request still holds the only slot.
        let deadline = now() + 0.9
        while now() < deadline { _ = queued.receiveSome(timeout: 0.1) }
        let early = String(decoding: queued.pending, as: UTF8.self)
        XCTAssertTrue(early.hasPrefix("HTTP/1.1 200"), early)
        XCTAssertTrue(early.contains(": keep-alive"), "no heartbeat while queued: \(early)")
        XCTAssertEqual(fake.stats.requests, 1, "the queued stream must not reach the upstream yet")
        XCTAssertEqual(try first.readResponse().status, 200)
        let all = String(decoding: queued.readToEnd(timeout: 5), as: UTF8.self)
        XCTAssertTrue(all.contains("data: [DONE]"), all)
        XCTAssertTrue(all.contains("slow "), all)
        XCTAssertEqual(fake.stats.requests, 2)
    }
}
