import XCTest
@testable import HTTPServer
@testable import TestSupport

/// RFC 9112 strictness where leniency lets two parsers disagree about where a request ends.
final class StrictFramingTests: XCTestCase {
    var server: LiveServer!
    let handled = Counter()

    override func setUpWithError() throws {
        let handled = self.handled
        server = try LiveServer { request in
            handled.add()
            return .text("\(request.method) \(request.path) \(String(decoding: request.body, as: UTF8.self))")
        }
    }

    override func tearDown() { server.stop() }

    func expect400(_ request: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let before = handled.current
        let c = try server.client()
        try c.send(request)
        let r = try c.readResponse(timeout: 5)
        XCTAssertEqual(r.status, 400, request.debugDescription, file: file, line: line)
        XCTAssertEqual(r.header("Connection")?.lowercased(), "close", file: file, line: line)
        XCTAssertEqual(handled.current, before, "the handler saw \(request.debugDescription)", file: file, line: line)
    }

    /// A front proxy that frames chunks by CRLF only would see a different body (and a different
    /// next request) than a server that also accepts a bare LF: request smuggling.
    func testChunkedBodyWithBareLFIs400() throws {
        let head = "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        for body in [
            "5\nhello\r\n0\r\n\r\n",          // size line
            "5\r\nhello\n0\r\n\r\n",          // data terminator
            "5\r\nhello\r\n0\n\r\n",          // last-chunk line
            "5\r\nhello\r\n0\r\n\n",          // final blank line
            "5\r\nhello\r\n0\r\nT: v\n\r\n",  // trailer line
            "5;ext=1\nhello\r\n0\r\n\r\n",    // size line with an extension
            "5\nhello\n0\n\n",
        ] {
            try expect400(head + body)
        }
    }

    func testTwoHostFieldsAre400() throws {
        try expect400("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        try expect400("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n")
    }

    func testAbsoluteFormTargetIsRoutedByItsPath() throws {
        let c = try server.client()
        let r = try c.exchange("POST http://127.0.0.1:3101/v1/chat/completions?stream=1 HTTP/1.1\r\nHost: 127.0.0.1:3101\r\nContent-Length: 2\r\n\r\nhi")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "POST /v1/chat/completions hi")
    }

    func testBareLFRequestHeadsStayAccepted() throws {
        // RFC 9112 §2.2 lets a server accept a bare LF as a line end in the head; the head's end is
        // unambiguous either way, and a bare CR is still refused.
        let c = try server.client()
        XCTAssertEqual(try c.exchange("GET /lf HTTP/1.1\nHost: t\n\n").text, "GET /lf ")
        try expect400("GET /cr HTTP/1.1\r\nHost: t\rX: y\r\n\r\n")
    }

    func testAbsoluteFormPaths() {
        func path(_ target: String) -> String { String(HTTPRequest(method: "GET", target: target).path) }
        XCTAssertEqual(path("/v1/models?x=1"), "/v1/models")
        XCTAssertEqual(path("http://h:3101/v1/models?x=1"), "/v1/models")
        XCTAssertEqual(path("HTTPS://h/a/b"), "/a/b")
        XCTAssertEqual(path("http://h"), "/")
        XCTAssertEqual(path("http://h?q=1"), "/")
        XCTAssertEqual(path("http://user@h:1/p"), "/p")
        XCTAssertEqual(path("*"), "*")
        // Not a URI with an authority: left as sent (no route will match it).
        XCTAssertEqual(path("ftp://h/p"), "ftp://h/p")
    }
}
