import XCTest
import HTTPServer
@testable import TestSupport

/// The connection cap, and that connections leave nothing behind.
final class ConnectionLimitTests: XCTestCase {
    func testConnectionCapAnswers503() throws {
        var limits = ServerLimits()
        limits.maxConnections = 2
        let server = try LiveServer(limits: limits) { _ in .text("ok") }
        defer { server.stop() }
        let a = try server.client(), b = try server.client()
        XCTAssertEqual(try a.exchange("GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200)
        XCTAssertEqual(try b.exchange("GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200)
        XCTAssertEqual(server.server.openConnections, 2)

        let third = try server.client()
        let refused = try third.readResponse(timeout: 3)
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(refused.header("Connection")?.lowercased(), "close")
        XCTAssertTrue(third.waitForClose(timeout: 2))

        // A freed slot is usable again.
        a.close()
        XCTAssertTrue(eventually(timeout: 3) { server.server.openConnections == 1 })
        let fourth = try server.client()
        XCTAssertEqual(try fourth.exchange("GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200)
    }

    /// Over the cap, the refusal carries the application's error body and Retry-After, and arrives
    /// whole even when the client already sent a request the server never reads.
    func testConnectionOverTheCapGetsTheErrorRespondersBody() throws {
        var limits = ServerLimits()
        limits.maxConnections = 1
        let responder: ErrorResponder = { status, message in
            HTTPResponse(status: status, headers: ["Content-Type": "application/json"], text: "{\"error\":{\"code\":\(status)}}")
        }
        let server = try LiveServer(limits: limits, errorResponder: responder) { _ in .text("ok") }
        defer { server.stop() }
        let holder = try server.client()
        XCTAssertEqual(try holder.exchange("GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200)
        let baseline = openDescriptorCount()

        for _ in 0..<3 {
            let refused = try server.client()
            // Unread request bytes: closing at once would reset the connection and could destroy the answer.
            try refused.send(Array("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n".utf8) + [UInt8](repeating: 0x62, count: 200_000))
            let r = try refused.readResponse(timeout: 3)
            XCTAssertEqual(r.status, 503)
            XCTAssertEqual(r.text, "{\"error\":{\"code\":503}}")
            XCTAssertEqual(r.header("Content-Type"), "application/json")
            XCTAssertEqual(r.header("Retry-After"), "1")
            XCTAssertEqual(r.header("Connection")?.lowercased(), "close")
            XCTAssertTrue(refused.waitForClose(timeout: 3), "a refused connection must be closed")
        }
        // A refused client that keeps its end open: the server's end is closed after a short while
        // anyway (the client sees end of stream at once: the server half-closes after answering).
        XCTAssertTrue(eventually(timeout: 3) { openDescriptorCount() <= baseline }, "refused connections left open")
        let silent = try server.client()
        XCTAssertEqual(try silent.readResponse(timeout: 3).status, 503)
        XCTAssertTrue(silent.waitForClose(timeout: 3))
        XCTAssertTrue(eventually(timeout: 3) { openDescriptorCount() <= baseline + 1 }, "the server still holds the refused connection")

        XCTAssertEqual(try holder.exchange("GET /again HTTP/1.1\r\nHost: t\r\n\r\n").status, 200)
        holder.close()
        XCTAssertTrue(eventually(timeout: 3) { server.server.openConnections == 0 })
        XCTAssertEqual(try server.client().exchange("GET /after HTTP/1.1\r\nHost: t\r\n\r\n").status, 200)
    }

    func testTenThousandConnectionsLeakNoDescriptor() throws {
        let server = try LiveServer { _ in .text("ok") }
        defer { server.stop() }
        // Warm up (the event loop, the listener) before taking the baseline.
        XCTAssertEqual(try server.client().exchange("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").status, 200)
        XCTAssertTrue(eventually(timeout: 3) { server.server.openConnections == 0 })
        let baseline = openDescriptorCount()

        let batch = 100
        for round in 0..<(10_000 / batch) {
            var clients: [RawClient] = []
            for _ in 0..<batch { clients.append(try server.client()) }
            for (i, c) in clients.enumerated() {
                switch (round + i) % 4 {
                case 0:
                    // A full exchange, then the client closes.
                    XCTAssertEqual(try c.exchange("GET /\(i) HTTP/1.1\r\nHost: t\r\n\r\n").status, 200)
                case 1:
                    // Half a request, then gone.
                    try c.send("GET /half HTTP/1.1\r\nHo")
                case 2:
                    // A malformed request: the server answers 400 and closes.
                    try c.send("BROKEN\r\n\r\n")
                default:
                    break // connect and close without a byte
                }
            }
            for (i, c) in clients.enumerated() {
                if i % 8 == 0 { c.reset() } else { c.close() }
            }
        }
        XCTAssertTrue(eventually(timeout: 10) { server.server.openConnections == 0 }, "still open: \(server.server.openConnections)")
        XCTAssertTrue(eventually(timeout: 10) { openDescriptorCount() <= baseline },
                      "descriptors: \(openDescriptorCount()) now, \(baseline) before 10,000 connections")
        // Still serving.
        XCTAssertEqual(try server.client().exchange("GET /after HTTP/1.1\r\nHost: t\r\n\r\n").status, 200)
    }
}
