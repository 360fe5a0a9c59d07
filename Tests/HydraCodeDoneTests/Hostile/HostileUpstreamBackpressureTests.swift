import Foundation
import OpenAIWire
import XCTest
@testable import TestSupport

/// A client that stops reading stops the proxy reading its upstream: memory stays bounded and
/// TCP backpressure reaches the upstream.
final class HostileUpstreamBackpressureTests: XCTestCase {
    func testANonReadingClientStopsTheUpstreamInsteadOfGrowingMemory() throws {
        let written = Locked<RawUpstreamConnection?>(nil)
        let fixture = try HostileUpstreamFixture(["CRITIQUE_MODEL_NAME": ""]) { _, _, c in
            written.set(c)
            var small: Int32 = 64 * 1024
            setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            let event = chunkEvent(delta: #"{"content":"\#(String(repeating: "x", count: 4000))"}"#)
            let start = Date()
            // As fast as the proxy takes it (a send blocks while it takes nothing), up to 400 MiB.
            while Date().timeIntervalSince(start) < 8, c.bytesWritten < 400 << 20, c.write(event) {}
        }
        defer { fixture.stop() }
        let client = try fixture.proxy.client()
        client.setReceiveBuffer(64 * 1024)
        let body = ProxyFixture.chatBody(stream: true)
        try client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        // The client reads nothing. The upstream's bytes must level off (how soon depends on how
        // busy the machine is) instead of growing for as long as the upstream can push.
        var samples: [Int] = []
        var levelled = false
        for _ in 0..<24 {
            usleep(500_000)
            let now = written.value?.bytesWritten ?? 0
            samples.append(now)
            if now > 24 << 20 { break }
            // Unchanged (within 64 KiB) over the last 1.5 s: the proxy stopped reading.
            if samples.count >= 4, now > 0, now - samples[samples.count - 4] < 64 << 10 {
                levelled = true
                break
            }
        }
        let total = samples.last ?? 0
        XCTAssertTrue(levelled, "the upstream kept pushing: \(samples.map { $0 >> 10 }) KiB at 0.5 s steps")
        XCTAssertLessThan(total, 24 << 20, "\(total) bytes taken from the upstream for a client that read nothing")
        // The stream is intact once the client reads again.
        let head = try client.readHead(timeout: 5)
        XCTAssertEqual(head.status, 200)
        client.close()
        fixture.assertStillServing()
    }
}
