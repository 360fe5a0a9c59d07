import XCTest
import HTTPServer
@testable import TestSupport

/// `shutdown(grace:)`: finish what is in flight, close what is idle, refuse what is new.
final class GracefulShutdownTests: XCTestCase {
    func testDrainLetsInFlightFinishClosesIdleRefusesNew() throws {
        let inFlight = Counter()
        let server = try LiveServer { request in
            if request.path == "/slow" {
                return HTTPResponse(status: 200, body: .stream { writer in
                    inFlight.add()
                    try await writer.write("begun ")
                    try await Task.sleep(for: .milliseconds(800))
                    try await writer.write("and finished")
                })
            }
            return .text("quick")
        }
        let port = server.port
        let idle = try server.client()
        XCTAssertEqual(try idle.exchange("GET /q HTTP/1.1\r\nHost: t\r\n\r\n").text, "quick")
        let busy = try server.client()
        try busy.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(eventually(timeout: 3) { inFlight.current == 1 })

        let shutdownDone = Locked<Double?>(nil)
        let started = now()
        let s = server.server
        Task.detached {
            await s.shutdown(grace: .seconds(5))
            shutdownDone.set(now())
        }
        // The idle connection is closed at once, without an answer.
        XCTAssertTrue(idle.waitForClose(timeout: 1), "idle keep-alive connection left open while draining")
        XCTAssertTrue(idle.pending.isEmpty)
        // New connections are refused.
        XCTAssertTrue(eventually(timeout: 1) {
            do { _ = try RawClient(port: port); return false } catch { return true }
        }, "still accepting while draining")
        // The slow response completes whole, and only then does shutdown return.
        let r = try busy.readResponse(timeout: 5)
        XCTAssertEqual(r.text, "begun and finished")
        XCTAssertTrue(busy.waitForClose(timeout: 2), "a drained connection must close after its response")
        XCTAssertTrue(eventually(timeout: 3) { shutdownDone.value != nil })
        if let done = shutdownDone.value {
            XCTAssertGreaterThan(done - started, 0.5, "shutdown returned before the in-flight response finished")
            XCTAssertLessThan(done - started, 4)
        }
        XCTAssertEqual(server.server.openConnections, 0)
    }

    func testGracePeriodCutsWhatDoesNotFinish() throws {
        let server = try LiveServer { _ in
            HTTPResponse(status: 200, body: .stream { writer in
                try await writer.write("forever")
                while true { try await Task.sleep(for: .seconds(60)) }
            })
        }
        let c = try server.client()
        try c.send("GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
        _ = try c.readHead(timeout: 3)
        let start = now()
        server.stop(grace: .milliseconds(500))
        let took = now() - start
        XCTAssertGreaterThan(took, 0.4)
        XCTAssertLessThan(took, 3.5)
        XCTAssertTrue(c.waitForClose(timeout: 2), "the connection outlived the grace period")
        XCTAssertEqual(server.server.openConnections, 0)
    }
}
