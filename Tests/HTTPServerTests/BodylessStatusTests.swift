import XCTest
import HTTPServer
@testable import TestSupport

/// 1xx, 204 and 304 responses have no body (RFC 9112 §6.3): any framing written after their head
/// would be read as the start of the next response.
final class BodylessStatusTests: XCTestCase {
    var server: LiveServer!
    /// Streamed bodies of bodyless answers that ran to their end.
    let producersFinished = Counter()

    override func setUpWithError() throws {
        let finished = producersFinished
        let responder: ErrorResponder = { status, message in .text("error \(status)", status: status) }
        server = try LiveServer(errorResponder: responder) { request in
            let status = Int(request.path.dropFirst()) ?? 200
            if request.headers["X-Body"] == "bytes" {
                return HTTPResponse(status: status, headers: ["Content-Length": "42", "Transfer-Encoding": "chunked"], text: "must not be sent")
            }
            // Like a proxy relaying an upstream's answer: always a stream, whatever the status.
            return HTTPResponse(status: status, headers: ["Content-Type": "text/plain"], body: .stream { writer in
                try await writer.write("must not be sent")
                finished.add()
            })
        }
    }

    override func tearDown() { server.stop() }

    func testStreamed204IsJustAHeadAndTheConnectionStaysInStep() throws {
        let c = try server.client()
        try c.send("GET /204 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try c.readHead(timeout: 3)
        XCTAssertEqual(r.status, 204)
        XCTAssertNil(r.header("Transfer-Encoding"))
        XCTAssertNil(r.header("Content-Length"))
        let finished = producersFinished
        XCTAssertTrue(eventually(timeout: 2) { finished.current == 1 }, "the 204's producer still runs (it may hold resources), into nothing")
        // The next response must start right after the head.
        try c.send("GET /200 HTTP/1.1\r\nHost: t\r\n\r\n")
        let next = try c.readResponse(timeout: 3)
        XCTAssertEqual(next.status, 200)
        XCTAssertEqual(next.text, "must not be sent")
    }

    func testFixed204And304CarryNoBody() throws {
        let c = try server.client()
        try c.send("GET /204 HTTP/1.1\r\nHost: t\r\nX-Body: bytes\r\n\r\nGET /304 HTTP/1.1\r\nHost: t\r\nX-Body: bytes\r\n\r\nGET /304 HTTP/1.1\r\nHost: t\r\n\r\nGET /200 HTTP/1.1\r\nHost: t\r\n\r\n")
        let noContent = try c.readHead(timeout: 3)
        XCTAssertEqual(noContent.status, 204)
        XCTAssertNil(noContent.header("Content-Length"))
        XCTAssertNil(noContent.header("Transfer-Encoding"))
        let notModified = try c.readHead(timeout: 3)
        XCTAssertEqual(notModified.status, 304)
        XCTAssertEqual(notModified.header("Content-Length"), "42", "a 304's Content-Length describes the representation: kept")
        XCTAssertNil(notModified.header("Transfer-Encoding"))
        let streamed304 = try c.readHead(timeout: 3)
        XCTAssertEqual(streamed304.status, 304)
        XCTAssertNil(streamed304.header("Transfer-Encoding"))
        XCTAssertEqual(try c.readResponse(timeout: 3).text, "must not be sent")
    }

    func testInformationalStatusFromAHandlerIsAHeadThenClose() throws {
        // A client takes a 1xx as interim and waits for a final answer: the only safe end is closing.
        let c = try server.client()
        try c.send("GET /103 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try c.readHead(timeout: 3)
        XCTAssertEqual(r.status, 103)
        XCTAssertNil(r.header("Transfer-Encoding"))
        XCTAssertNil(r.header("Content-Length"))
        XCTAssertTrue(c.waitForClose(timeout: 3))
        XCTAssertTrue(c.pending.isEmpty, "bytes after a 1xx head: \(String(decoding: c.pending, as: UTF8.self).debugDescription)")
    }

    func testStatusOutsideTheValidRangeBecomes500() throws {
        let c = try server.client()
        for path in ["/600", "/1000", "/99", "/0", "/-1"] {
            try c.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
            let r = try c.readResponse(timeout: 3)
            XCTAssertEqual(r.status, 500, path)
            XCTAssertEqual(r.text, "error 500", path)
        }
        XCTAssertEqual(try c.exchange("GET /201 HTTP/1.1\r\nHost: t\r\n\r\n").status, 201)
    }
}
