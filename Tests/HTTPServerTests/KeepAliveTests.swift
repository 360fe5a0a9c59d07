import XCTest
import HTTPServer
@testable import TestSupport

/// Connection reuse over real sockets: keep-alive, close, HTTP/1.0, pipelining.
final class KeepAliveTests: XCTestCase {
    var server: LiveServer!

    override func setUpWithError() throws {
        server = try LiveServer { request in
            if request.path == "/slow" { try? await Task.sleep(for: .milliseconds(150)) }
            if request.path == "/close" { return HTTPResponse(status: 200, headers: ["Connection": "close"], text: "bye") }
            return .text("\(request.method) \(request.target) \(request.version == .http10 ? "1.0" : "1.1")")
        }
    }

    override func tearDown() { server.stop() }

    func testTwoRequestsOnOneConnection() throws {
        let c = try server.client()
        let first = try c.exchange("GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first.text, "GET /one 1.1")
        XCTAssertNil(first.header("Connection"), "a kept-alive HTTP/1.1 connection needs no Connection header")
        let second = try c.exchange("GET /two HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(second.text, "GET /two 1.1")
        XCTAssertFalse(c.waitForClose(timeout: 0.3), "the server closed a keep-alive connection")
    }

    func testConnectionCloseFromClientIsHonoured() throws {
        let c = try server.client()
        let r = try c.exchange("GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Connection")?.lowercased(), "close")
        XCTAssertTrue(c.waitForClose(timeout: 2))
        XCTAssertTrue(c.pending.isEmpty)
    }

    func testServerSaysCloseWhenItCloses() throws {
        let c = try server.client()
        let r = try c.exchange("GET /close HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(r.text, "bye")
        XCTAssertEqual(r.headers("Connection").map { $0.lowercased() }, ["close"], "exactly one Connection: close")
        XCTAssertTrue(c.waitForClose(timeout: 2))
    }

    func testHTTP10ClosesByDefault() throws {
        let c = try server.client()
        let r = try c.exchange("GET /old HTTP/1.0\r\n\r\n")
        XCTAssertEqual(r.version, "HTTP/1.0")
        XCTAssertEqual(r.text, "GET /old 1.0")
        XCTAssertEqual(r.header("Content-Length"), "12")
        XCTAssertTrue(c.waitForClose(timeout: 2), "HTTP/1.0 without keep-alive must be closed")
    }

    func testHTTP10KeepAliveWhenAsked() throws {
        let c = try server.client()
        let r = try c.exchange("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(r.version, "HTTP/1.0")
        XCTAssertEqual(r.header("Connection")?.lowercased(), "keep-alive")
        let again = try c.exchange("GET /b HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        XCTAssertEqual(again.text, "GET /b 1.0")
        let last = try c.exchange("GET /c HTTP/1.0\r\n\r\n")
        XCTAssertEqual(last.text, "GET /c 1.0")
        XCTAssertTrue(c.waitForClose(timeout: 2))
    }

    func testPipelinedRequestsAnsweredInOrder() throws {
        let c = try server.client()
        // The first is slow: a server answering as handlers finish would reorder.
        try c.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\nPOST /3 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhiGET /4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        var bodies: [String] = []
        for _ in 0..<4 { bodies.append(try c.readResponse().text) }
        XCTAssertEqual(bodies, ["GET /slow 1.1", "GET /2 1.1", "POST /3 1.1", "GET /4 1.1"])
        XCTAssertTrue(c.waitForClose(timeout: 2))
    }

    func testPipelinedRequestsSentByteByByte() throws {
        let c = try server.client()
        let text = "GET /p1 HTTP/1.1\r\nHost: t\r\n\r\nGET /p2 HTTP/1.1\r\nHost: t\r\n\r\n"
        for b in text.utf8 { try c.send([b]) }
        XCTAssertEqual(try c.readResponse().text, "GET /p1 1.1")
        XCTAssertEqual(try c.readResponse().text, "GET /p2 1.1")
    }

    func testHeadGetsHeadersWithoutBody() throws {
        let c = try server.client()
        try c.send("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try c.readResponse(isHead: true)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Content-Length"), "11")
        // The next response must start right away: no body bytes were sent for HEAD.
        let next = try c.exchange("GET /n HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(next.text, "GET /n 1.1")
    }

    func testCurlReusesTheConnection() throws {
        let url = "http://127.0.0.1:\(server.port)"
        let result = try curl(["-s", "-S", "-v", "\(url)/a", "\(url)/b"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(String(decoding: result.stdout, as: UTF8.self), "GET /a 1.1GET /b 1.1")
        XCTAssertTrue(result.stderr.contains("Re-using existing connection") || result.stderr.contains("Reusing existing connection"),
                      "curl did not reuse the connection:\n\(result.stderr)")
    }
}
