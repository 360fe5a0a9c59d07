import XCTest
import HTTPServer
@testable import TestSupport

/// Slow and idle clients are cut on time without holding up anyone else.
final class TimeoutTests: XCTestCase {
    var server: LiveServer!

    override func setUpWithError() throws {
        var limits = ServerLimits()
        limits.headerTimeout = .seconds(1)
        limits.idleTimeout = .seconds(1)
        server = try LiveServer(limits: limits) { request in .text("ok \(request.path)") }
    }

    override func tearDown() { server.stop() }

    func testStallingMidHeadersIsCutWhileOthersAreServed() throws {
        let slow = try server.client()
        let start = now()
        try slow.send("GET /slow HTTP/1.1\r\nHost: t\r\nX-Partial: ")
        // Meanwhile, other clients are served at full speed.
        var servedDuringStall = 0
        while now() - start < 0.8 {
            let c = try server.client()
            let t0 = now()
            let r = try c.exchange("GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(r.text, "ok /fast")
            XCTAssertLessThan(now() - t0, 0.5, "a stalled client slowed down another one")
            servedDuringStall += 1
        }
        XCTAssertGreaterThan(servedDuringStall, 2)
        // Trickling bytes does not extend the deadline: the whole head must arrive in time.
        try? slow.send("a")
        let r = try slow.readResponse(timeout: 3)
        let elapsed = now() - start
        XCTAssertEqual(r.status, 408)
        XCTAssertEqual(r.header("Connection")?.lowercased(), "close")
        XCTAssertGreaterThan(elapsed, 0.9)
        XCTAssertLessThan(elapsed, 2.5)
        XCTAssertTrue(slow.waitForClose(timeout: 3))
    }

    func testByteByByteTricklePastTheDeadlineIsCut() throws {
        let slow = try server.client()
        let start = now()
        var cut = false
        for b in "GET /trickle HTTP/1.1\r\nHost: t\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n".utf8 {
            do { try slow.send([b]) } catch { cut = true; break }
            if slow.receiveSome(timeout: 0.05) != nil { cut = true; break }
        }
        XCTAssertTrue(cut, "a head trickled over 3 s was accepted")
        XCTAssertLessThan(now() - start, 2.5)
        let rest = slow.readToEnd(timeout: 2)
        XCTAssertTrue(String(decoding: rest, as: UTF8.self).hasPrefix("HTTP/1.1 408"), String(decoding: rest, as: UTF8.self))
    }

    func testSilentNewConnectionIsClosedWithoutAnAnswer() throws {
        let c = try server.client()
        let start = now()
        XCTAssertTrue(c.waitForClose(timeout: 3))
        XCTAssertLessThan(now() - start, 2.5)
        XCTAssertTrue(c.pending.isEmpty, "no request, no answer")
    }

    func testIdleKeepAliveIsClosedAfterTheIdleTimeout() throws {
        let c = try server.client()
        XCTAssertEqual(try c.exchange("GET /once HTTP/1.1\r\nHost: t\r\n\r\n").text, "ok /once")
        let idleSince = now()
        XCTAssertTrue(c.waitForClose(timeout: 4))
        let idle = now() - idleSince
        XCTAssertGreaterThan(idle, 0.8)
        XCTAssertLessThan(idle, 2.5)
        XCTAssertTrue(c.pending.isEmpty, "an idle close sends nothing")
    }

    func testActivityKeepsAConnectionAlive() throws {
        let c = try server.client()
        for i in 0..<4 {
            XCTAssertEqual(try c.exchange("GET /\(i) HTTP/1.1\r\nHost: t\r\n\r\n").text, "ok /\(i)")
            usleep(600_000)
        }
    }
}
