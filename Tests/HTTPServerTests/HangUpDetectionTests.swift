import XCTest
import HTTPServer
@testable import TestSupport

/// A client that hangs up is noticed even after it pipelined more than the server will hold.
final class HangUpDetectionTests: XCTestCase {
    /// Waits until cancelled and records when that happened.
    static func waitingServer(started: Counter, cancelled: Locked<Double?>) throws -> LiveServer {
        try LiveServer { _ in
            started.add()
            await withTaskCancellationHandler {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(30)) }
            } onCancel: {
                cancelled.set(now())
            }
            return .text("too late")
        }
    }

    /// The request, then more than the 1 MiB the server collects while a request is handled (plus
    /// the 64 KiB its first read may take), but not so much more that the rest and the client's FIN
    /// could not fit in the server's receive buffer.
    static func requestWithPipelinedMegabyte() -> [UInt8] {
        let extra = (1 << 20) + 64 * 1024 + 512
        return Array("POST /work HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi".utf8)
            + Array("POST /next HTTP/1.1\r\nHost: t\r\nContent-Length: \(extra)\r\n\r\n".utf8)
            + [UInt8](repeating: 0x78, count: extra)
    }

    func testHangUpAfterTheReadCapIsReachedCancelsTheHandler() throws {
        let started = Counter(), cancelled = Locked<Double?>(nil)
        let server = try Self.waitingServer(started: started, cancelled: cancelled)
        defer { server.stop() }
        let c = try server.client()
        try c.send(Self.requestWithPipelinedMegabyte())
        XCTAssertTrue(eventually(timeout: 3) { started.current == 1 })
        usleep(300_000)  // let the server collect its 1 MiB and stop reading
        XCTAssertNil(cancelled.value, "cancelled while the client was still there")
        let closedAt = now()
        c.close()
        XCTAssertTrue(eventually(timeout: 3) { cancelled.value != nil }, "the handler of a client that left was never cancelled")
        if let at = cancelled.value { XCTAssertLessThan(at - closedAt, 2.0) }
        XCTAssertTrue(eventually(timeout: 3) { server.server.openConnections == 0 })
    }

    func testResetAfterTheReadCapIsReachedCancelsTheHandler() throws {
        let started = Counter(), cancelled = Locked<Double?>(nil)
        let server = try Self.waitingServer(started: started, cancelled: cancelled)
        defer { server.stop() }
        let c = try server.client()
        try c.send(Self.requestWithPipelinedMegabyte())
        XCTAssertTrue(eventually(timeout: 3) { started.current == 1 })
        usleep(300_000)
        c.reset()
        XCTAssertTrue(eventually(timeout: 3) { cancelled.value != nil }, "the handler of a client that reset was never cancelled")
        XCTAssertTrue(eventually(timeout: 3) { server.server.openConnections == 0 })
    }
}
