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
