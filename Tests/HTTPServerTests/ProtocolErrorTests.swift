import XCTest
import HTTPServer
@testable import TestSupport

/// Requests the HTTP layer refuses itself: the answer states the status and closes the connection.
final class ProtocolErrorTests: XCTestCase {
    var server: LiveServer!
    let handled = Counter()

    override func setUpWithError() throws {
        var limits = ServerLimits()
        limits.maxBodyBytes = 1 << 20
        let handled = self.handled
        server = try LiveServer(limits: limits) { request in
            handled.add()
            return .text("handled \(request.body.count)")
        }
    }

    override func tearDown() { server.stop() }

    /// Sends `request`, expects `status` with `Connection: close`, then end of stream.
    func expectRefusal(_ request: [UInt8], status: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let c = try server.client()
        try c.send(request)
        let r = try c.readResponse(timeout: 5)
        XCTAssertEqual(r.status, status, file: file, line: line)
        XCTAssertEqual(r.header("Connection")?.lowercased(), "close", file: file, line: line)
        XCTAssertEqual(r.header("Content-Length"), String(r.body.count), file: file, line: line)
        XCTAssertFalse(r.body.isEmpty, "the error says why", file: file, line: line)
        c.shutdownWrite()
        XCTAssertTrue(c.waitForClose(timeout: 3), "connection not closed after \(status)", file: file, line: line)
        XCTAssertEqual(handled.current, 0, "the handler must never see a refused request", file: file, line: line)
    }

    func testBothContentLengthAndTransferEncodingIs400() throws {
        try expectRefusal(Array("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".utf8), status: 400)
    }

    func testMalformedRequestLineIs400() throws {
        try expectRefusal(Array("HELLO THERE\r\n\r\n".utf8), status: 400)
        try expectRefusal(Array("GET /x HTTP/1.1 junk\r\nHost: t\r\n\r\n".utf8), status: 400)
    }

    func testMissingHostIs400() throws {
        try expectRefusal(Array("GET / HTTP/1.1\r\n\r\n".utf8), status: 400)
    }

    func testUnsupportedVersionAndCoding() throws {
        try expectRefusal(Array("GET / HTTP/1.2\r\nHost: t\r\n\r\n".utf8), status: 505)
        try expectRefusal(Array("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".utf8), status: 501)
    }

    func testRequestLineOver8KiBIs414() throws {
        try expectRefusal(Array(("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: t\r\n\r\n").utf8), status: 414)
        // Still 414 when the line never ends: the server must not wait for a line feed.
        try expectRefusal(Array(("GET /" + String(repeating: "b", count: 8300)).utf8), status: 414)
    }

    func testHeaderSectionOver64KiBIs431() throws {
        var text = "GET / HTTP/1.1\r\nHost: t\r\n"
        for i in 0..<70 { text += "X-Header-\(i): " + String(repeating: "h", count: 1000) + "\r\n" }
        text += "\r\n"
        try expectRefusal(Array(text.utf8), status: 431)
    }

    func testHugeContentLengthIs413WithoutReadingTheBody() throws {
        let c = try server.client()
        let start = now()
        // 10 GB announced, nothing sent: the answer must come at once.
        try c.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000000\r\n\r\n")
        let r = try c.readResponse(timeout: 3)
        XCTAssertEqual(r.status, 413)
        XCTAssertEqual(r.header("Connection")?.lowercased(), "close")
        XCTAssertLessThan(now() - start, 1.5)
        XCTAssertTrue(c.waitForClose(timeout: 4), "413 must close the connection")
        XCTAssertEqual(handled.current, 0)
    }

    func testOversizedExpectContinueGets413NotContinue() throws {
        let c = try server.client()
        try c.send("POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n")
        let r = try c.readResponse(timeout: 3)
        XCTAssertEqual(r.status, 413, "a client told to continue would upload 2 MB for nothing")
        XCTAssertEqual(handled.current, 0)
    }

    func testChunkedBodyOverTheLimitIs413() throws {
        let c = try server.client()
        try c.send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        let piece = [UInt8](repeating: 0x61, count: 256 * 1024)
        var answered: RawResponse?
        for _ in 0..<8 {
            // Stop sending once the server has answered (it may also reset a writer that keeps going).
            if c.receiveSome(timeout: 0) ?? 0 > 0 { break }
            do { try c.send(Array("40000\r\n".utf8) + piece + Array("\r\n".utf8)) } catch { break }
        }
        answered = try c.readResponse(timeout: 5)
        XCTAssertEqual(answered?.status, 413)
        XCTAssertEqual(handled.current, 0)
    }

    func testBodyExactlyAtTheLimitIsAccepted() throws {
        let c = try server.client()
        let body = [UInt8](repeating: 0x62, count: 1 << 20)
        try c.send(Array("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        let r = try c.readResponse(timeout: 10)
        XCTAssertEqual(r.text, "handled \(1 << 20)")
    }

    func testClientVanishingMidBodyIsNotAnswered() throws {
        let c = try server.client()
        try c.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly part")
        c.shutdownWrite()
        XCTAssertTrue(c.waitForClose(timeout: 3))
        XCTAssertTrue(c.pending.isEmpty, "nothing to answer: \(String(decoding: c.pending, as: UTF8.self))")
        XCTAssertEqual(handled.current, 0)
    }
}
