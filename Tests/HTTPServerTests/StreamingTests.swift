import XCTest
import HTTPServer
@testable import TestSupport

/// Streamed responses: framing, liveness, backpressure, and noticing a client that left.
final class StreamingTests: XCTestCase {
    func testChunkedFramingAndEachWriteArrivesOnItsOwn() throws {
        let gate = Gate()
        let server = try LiveServer { _ in
            HTTPResponse(status: 200, headers: ["Content-Type": "text/event-stream"], body: .stream { writer in
                try await writer.write("hello")
                await gate.wait()  // the test reads "hello" before the next write is even made
                try await writer.write("")  // an empty write must not end the body
                try await writer.write(Array("sixteen bytes!!!".utf8))
            })
        }
        defer { server.stop() }
        let c = try server.client()
        try c.send("GET /s HTTP/1.1\r\nHost: t\r\n\r\n")
        let parsed = try c.readHead(timeout: 3)
        XCTAssertEqual(parsed.header("Transfer-Encoding"), "chunked")
        XCTAssertNil(parsed.header("Content-Length"))
        XCTAssertEqual(try c.readExactly(10, timeout: 3), Array("5\r\nhello\r\n".utf8), "the first write must arrive before the second is made")
        gate.open()
        let rest = try c.readExactly("10\r\nsixteen bytes!!!\r\n0\r\n\r\n".utf8.count, timeout: 3)
        XCTAssertEqual(String(decoding: rest, as: UTF8.self), "10\r\nsixteen bytes!!!\r\n0\r\n\r\n")
        // The connection is reusable after a streamed response.
        try c.send("GET /again HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        gate.open()
        XCTAssertEqual(try c.readResponse().chunks?.map { String(decoding: $0, as: UTF8.self) }, ["hello", "sixteen bytes!!!"])
    }

    func testHTTP10StreamIsDelimitedByClose() throws {
        let server = try LiveServer { _ in
            HTTPResponse(status: 200, body: .stream { writer in
                try await writer.write("one ")
                try await writer.write("two")
            })
        }
        defer { server.stop() }
        let c = try server.client()
        let r = try c.exchange("GET / HTTP/1.0\r\n\r\n")
        XCTAssertEqual(r.version, "HTTP/1.0")
        XCTAssertNil(r.header("Transfer-Encoding"), "HTTP/1.0 has no chunked framing")
        XCTAssertEqual(r.text, "one two")
    }

    func testSlowReaderAppliesBackpressure() throws {
        let written = Counter()
        let finished = Counter()
        let server = try LiveServer { _ in
            HTTPResponse(status: 200, body: .stream { writer in
                let piece = [UInt8](repeating: 0x78, count: 64 * 1024)
                for _ in 0..<1024 { // 64 MiB
                    try await writer.write(piece)
                    written.add(piece.count)
                }
                finished.add()
            })
        }
        defer { server.stop() }
        let c = try server.client()
        c.setReceiveBuffer(64 * 1024)
        try c.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        // The client reads nothing. The handler must stall once the socket buffers are full.
        usleep(300_000)
        let early = written.current
        usleep(700_000)
        let later = written.current
        XCTAssertEqual(finished.current, 0)
        XCTAssertLessThan(later, 16 << 20, "the server buffered \(later) bytes for a client that reads nothing")
        XCTAssertLessThan(later - early, 1 << 20, "the handler kept writing while nobody read")
        // Reading resumes the flow: keep reading until the writer moves (on a busy machine that can
        // take more than the kernel's buffers' worth of reading), for up to 10 s.
        let start = now()
        while written.current <= later, now() - start < 10, let n = c.receiveSome(timeout: 1), n > 0 {
            c.pending.removeAll(keepingCapacity: true)
        }
        XCTAssertGreaterThan(written.current, later, "reading did not resume the writer")
    }

    func testClientLeavingMidStreamCancelsTheHandler() throws {
        let cancelled = Locked<Double?>(nil)
        let started = Counter()
        let server = try LiveServer { _ in
            HTTPResponse(status: 200, body: .stream { writer in
                try await writer.write("first")
                started.add()
                await withTaskCancellationHandler {
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(30)) }
                } onCancel: {
                    cancelled.set(now())
                }
            })
        }
        defer { server.stop() }
        let c = try server.client()
        try c.send("GET /long HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(eventually(timeout: 3) { started.current == 1 })
        _ = c.receiveSome(timeout: 1)
        let closedAt = now()
        c.close()
        XCTAssertTrue(eventually(timeout: 2) { cancelled.value != nil }, "the handler was never cancelled")
        if let at = cancelled.value { XCTAssertLessThan(at - closedAt, 1.0) }
        XCTAssertTrue(eventually(timeout: 2) { server.server.openConnections == 0 })
    }

    func testClientLeavingBeforeAFixedResponseCancelsTheHandler() throws {
        let cancelled = Counter()
        let server = try LiveServer { _ in
            await withTaskCancellationHandler {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(30)) }
            } onCancel: {
                cancelled.add()
            }
            return .text("too late")
        }
        defer { server.stop() }
        let c = try server.client()
        try c.send("POST /work HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
        usleep(200_000)
        c.reset()
        XCTAssertTrue(eventually(timeout: 1.5) { cancelled.current == 1 }, "a client that reset was not noticed")
    }
}
