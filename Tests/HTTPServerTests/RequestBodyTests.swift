import XCTest
import HTTPServer
@testable import TestSupport

/// Request bodies and headers as the handler sees them.
final class RequestBodyTests: XCTestCase {
    var server: LiveServer!
    let seen = Locked<[HTTPRequest]>([])

    override func setUpWithError() throws {
        let seen = self.seen
        server = try LiveServer { request in
            seen.update { $0.append(request) }
            if request.path == "/headers" {
                let multi = request.headers.values("x-MULTI").joined(separator: ",")
                return .text("first=\(request.headers["X-MULTI"] ?? "-") all=\(multi) host=\(request.headers["host"] ?? "-")")
            }
            return .text("\(request.body.count):" + String(decoding: request.body, as: UTF8.self))
        }
    }

    override func tearDown() { server.stop() }

    func testContentLengthBody() throws {
        let c = try server.client()
        let r = try c.exchange("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world")
        XCTAssertEqual(r.text, "11:hello world")
        // Sent in pieces, with the body split from its head.
        try c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nab")
        usleep(50_000)
        try c.send("cdef")
        XCTAssertEqual(try c.readResponse().text, "6:abcdef")
    }

    func testChunkedBody() throws {
        let c = try server.client()
        let r = try c.exchange("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n")
        XCTAssertEqual(r.text, "11:hello world")
        XCTAssertEqual(seen.value.last?.headers["Transfer-Encoding"], "chunked")
        // Byte by byte, then the connection is still usable.
        for b in "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".utf8 { try c.send([b]) }
        XCTAssertEqual(try c.readResponse().text, "3:abc")
        XCTAssertEqual(try c.exchange("GET /after HTTP/1.1\r\nHost: t\r\n\r\n").text, "0:")
    }

    func testCurlPostsBodiesBothWays() throws {
        let url = "http://127.0.0.1:\(server.port)/echo"
        let plain = try curl(["-s", "-S", "--data-binary", "@-", url], stdin: Array("small body".utf8))
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(String(decoding: plain.stdout, as: UTF8.self), "10:small body")
        let chunked = try curl(["-s", "-S", "-H", "Transfer-Encoding: chunked", "--data-binary", "@-", url], stdin: Array("streamed".utf8))
        XCTAssertEqual(chunked.status, 0, chunked.stderr)
        XCTAssertEqual(String(decoding: chunked.stdout, as: UTF8.self), "8:streamed")
    }

    /// curl sends `Expect: 100-continue` for bodies over 1 KiB and waits for the interim answer;
    /// with a 10 s expect timeout, a fast answer proves the server sent `100 Continue`.
    func testCurlExpectContinue() throws {
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
        let start = now()
        let r = try curl(["-s", "-S", "-v", "--expect100-timeout", "10", "-H", "Expect: 100-continue", "--data-binary", "@-",
                          "http://127.0.0.1:\(server.port)/echo"], stdin: body)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertLessThan(now() - start, 5, "curl waited for its expect timeout: no 100 Continue")
        XCTAssertTrue(String(decoding: r.stdout, as: UTF8.self).hasPrefix("4096:xxx"))
        XCTAssertTrue(r.stderr.contains("HTTP/1.1 100 Continue"), r.stderr)
        XCTAssertEqual(seen.value.last?.headers["Expect"], "100-continue")
    }

    func testRawExpectContinueComesBeforeTheBody() throws {
        let c = try server.client()
        try c.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        let interim = try c.readResponse(timeout: 2)
        XCTAssertEqual(interim.status, 100)
        XCTAssertTrue(interim.headers.isEmpty)
        try c.send("data")
        let final = try c.readResponse()
        XCTAssertEqual(final.status, 200)
        XCTAssertEqual(final.text, "4:data")

        // Chunked too.
        try c.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
        XCTAssertEqual(try c.readResponse(timeout: 2).status, 100)
        try c.send("2\r\nok\r\n0\r\n\r\n")
        XCTAssertEqual(try c.readResponse().text, "2:ok")
    }

    func testNoContinueWhenTheBodyIsAlreadyThere() throws {
        let c = try server.client()
        let r = try c.exchange("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
        XCTAssertEqual(r.status, 200, "an interim 100 after the body was sent only confuses clients")
        XCTAssertEqual(r.text, "2:hi")
    }

    func testRepeatedHeadersKeptAndLookupIsCaseInsensitive() throws {
        let c = try server.client()
        let r = try c.exchange("GET /headers HTTP/1.1\r\nhOsT: t\r\nX-Multi: a\r\nx-multi: b\r\nX-MULTI: c\r\n\r\n")
        XCTAssertEqual(r.text, "first=a all=a,b,c host=t")
        let request = try XCTUnwrap(seen.value.last)
        XCTAssertEqual(request.headers.map(\.name), ["hOsT", "X-Multi", "x-multi", "X-MULTI"], "names keep their spelling and order")
    }
}
