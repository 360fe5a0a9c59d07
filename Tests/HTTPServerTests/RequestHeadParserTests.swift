import XCTest
@testable import HTTPServer
@testable import TestSupport

/// The request-head parser is pure: the same bytes must give the same head however they arrive.
final class RequestHeadParserTests: XCTestCase {
    let parser = RequestHeadParser()

    /// A comparable rendering of a parse result.
    static func describe(_ result: RequestHeadParser.Result) -> String {
        switch result {
        case .incomplete: return "incomplete"
        case .failure(let e): return "failure \(e.status) \(e)"
        case .complete(let head, let consumed):
            let fields = head.headers.map { "\($0.name)=\($0.value)" }.joined(separator: "|")
            return "complete \(head.method) \(head.target) \(head.version) [\(fields)] \(head.framing) consumed=\(consumed)"
        }
    }

    func parse(_ text: String) -> RequestHeadParser.Result { parser.parse(Array(text.utf8)[...]) }

    func head(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> RequestHead? {
        if case .complete(let h, _) = parse(text) { return h }
        XCTFail("expected a complete head, got \(Self.describe(parse(text)))", file: file, line: line)
        return nil
    }

    func failureStatus(_ text: String) -> Int? {
        if case .failure(let e) = parse(text) { return e.status }
        return nil
    }

    static let samples = [
        "GET / HTTP/1.1\r\nHost: example\r\n\r\n",
        "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a:3101\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n",
        "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
        "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "GET /lf-only HTTP/1.1\nHost: h\nX-A:  spaced value \t\n\n",
        "\r\n\r\nGET /after-blank-lines HTTP/1.1\r\nHost: h\r\nX-Multi: a\r\nx-multi: b\r\n\r\n",
        "DELETE /bad HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /nohost HTTP/1.1\r\nAccept: */*\r\n\r\n",
    ]

    /// Every prefix is incomplete (or the very same failure); the whole gives one answer.
    func testSameResultAtEverySplitAndByteByByte() {
        for sample in Self.samples {
            let bytes = Array((sample + "BODYBYTES").utf8)
            let full = Self.describe(parser.parse(bytes[...]))
            XCTAssertNotEqual(full, "incomplete", sample)
            var sawFinal = false
            for k in 0...bytes.count {
                let partial = Self.describe(parser.parse(bytes[..<k]))
                if partial == "incomplete" {
                    XCTAssertFalse(sawFinal, "a longer prefix became incomplete again: \(sample.debugDescription) at \(k)")
                    continue
                }
                sawFinal = true
                XCTAssertEqual(partial, full, "prefix of \(k) bytes of \(sample.debugDescription)")
            }
        }
    }

    func testParsesRequestLineHeadersAndFraming() throws {
        let h = try XCTUnwrap(head(Self.samples[1]))
        XCTAssertEqual(h.method, "POST")
        XCTAssertEqual(h.target, "/v1/chat/completions?x=1")
        XCTAssertEqual(h.version, .http11)
        XCTAssertEqual(h.framing, .length(17))
        XCTAssertEqual(h.headers["content-type"], "application/json")
        XCTAssertEqual(h.headers["HOST"], "a:3101")

        let chunked = try XCTUnwrap(head(Self.samples[2]))
        XCTAssertEqual(chunked.framing, .chunked)
        XCTAssertTrue(chunked.expectsContinue)

        let old = try XCTUnwrap(head(Self.samples[3]))
        XCTAssertEqual(old.version, .http10)
        XCTAssertEqual(old.framing, .none)
    }

    func testConsumedCountsExactlyTheHead() {
        let text = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"
        guard case .complete(let h, let consumed) = parse(text) else { return XCTFail("not complete") }
        XCTAssertEqual(h.target, "/a")
        XCTAssertEqual(consumed, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n".utf8.count)
    }

    func testHeaderValuesAreTrimmedAndRepeatsKeptInOrder() throws {
        let h = try XCTUnwrap(head("GET / HTTP/1.1\r\nHost: h\r\nX-A:  spaced value \t\r\nX-Multi: a\r\nx-multi: b\r\nX-Empty:\r\n\r\n"))
        XCTAssertEqual(h.headers["x-a"], "spaced value")
        XCTAssertEqual(h.headers.values("X-MULTI"), ["a", "b"])
        XCTAssertEqual(h.headers["X-Multi"], "a")
        XCTAssertEqual(h.headers["x-empty"], "")
        XCTAssertEqual(h.headers.map(\.name), ["Host", "X-A", "X-Multi", "x-multi", "X-Empty"])
    }

    func testContentLengthRules() {
        XCTAssertEqual(head("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")?.framing, RequestHead.BodyFraming.none)
        XCTAssertEqual(head("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")?.framing, .length(5))
        XCTAssertEqual(head("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n")?.framing, .length(5))
        for bad in ["5, 6", "-1", "+5", "0x10", "", "1 2", "99999999999999999999", "5;"] {
            XCTAssertEqual(failureStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \(bad)\r\n\r\n"), 400, "Content-Length: \(bad)")
        }
        XCTAssertEqual(failureStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400)
    }

    func testTransferEncodingRules() {
        XCTAssertEqual(failureStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 400,
                       "both framings is the request-smuggling vector")
        XCTAssertEqual(failureStatus("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), 400)
        XCTAssertEqual(failureStatus("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400)
        XCTAssertEqual(failureStatus("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n"), 400)
        XCTAssertEqual(failureStatus("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501)
        XCTAssertEqual(head("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n")?.framing, .chunked)
    }

    func testMalformedHeadsAreRejectedWithTheirStatus() {
        let cases: [(String, Int)] = [
            ("GARBAGE\r\n\r\n", 400),
            ("GET /\r\nHost: h\r\n\r\n", 400),
            ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            ("GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n", 400),
            ("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            ("GET /a\u{7F}b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
            ("GET / HTTP/1.1x\r\nHost: h\r\n\r\n", 400),
            ("GET / http/1.1\r\nHost: h\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{01}b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400),
            (String(repeating: "\r\n", count: 70) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ]
        for (text, status) in cases {
            XCTAssertEqual(failureStatus(text), status, text.debugDescription)
        }
    }

    func testRequestLineLimitIs414() {
        let small = RequestHeadParser(maxRequestLineBytes: 64, maxHeaderBytes: 1024)
        let longLine = "GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\nHost: h\r\n\r\n"
        guard case .failure(let e) = small.parse(Array(longLine.utf8)[...]) else { return XCTFail("accepted a long request line") }
        XCTAssertEqual(e.status, 414)
        // Without a line feed yet: decided as soon as the limit is reached, not when the line ends.
        guard case .failure(let e2) = small.parse(Array(longLine.utf8.prefix(64))[...]) else { return XCTFail("waited past the limit") }
        XCTAssertEqual(e2.status, 414)
        let fits = "GET /" + String(repeating: "a", count: 40) + " HTTP/1.1\r\nHost: h\r\n\r\n"
        XCTAssertNotNil({ if case .complete = small.parse(Array(fits.utf8)[...]) { return true }; return nil }())
    }

    func testHeaderSectionLimitIs431() {
        let small = RequestHeadParser(maxRequestLineBytes: 64, maxHeaderBytes: 256)
        var text = "GET / HTTP/1.1\r\nHost: h\r\n"
        for i in 0..<20 { text += "X-Filler-\(i): " + String(repeating: "v", count: 20) + "\r\n" }
        text += "\r\n"
        guard case .failure(let e) = small.parse(Array(text.utf8)[...]) else { return XCTFail("accepted a large head") }
        XCTAssertEqual(e.status, 431)
    }

    /// A head whose size is right at the header limit: whether it is accepted must not depend on
    /// where TCP happened to split it.
    func testHeaderLimitBoundaryDoesNotDependOnSplit() {
        let limit = 256
        let small = RequestHeadParser(maxRequestLineBytes: 64, maxHeaderBytes: limit)
        for extra in -3...3 {
            // Pad one header so that the whole head (request line included) is `limit + extra` bytes.
            let prefix = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: "
            let suffix = "\r\n\r\n"
            let padding = limit + extra - prefix.utf8.count - suffix.utf8.count
            let bytes = Array((prefix + String(repeating: "p", count: padding) + suffix).utf8)
            XCTAssertEqual(bytes.count, limit + extra)
            func verdict(_ r: RequestHeadParser.Result) -> String {
                switch r {
                case .incomplete: return "incomplete"
                case .failure(let e): return "failure \(e.status)"
                case .complete(_, let consumed): return "complete (\(consumed) bytes)"
                }
            }
            let full = verdict(small.parse(bytes[...]))
            for k in 0..<bytes.count {
                let partial = verdict(small.parse(bytes[..<k]))
                if partial != "incomplete" {
                    XCTAssertEqual(partial, full, "head of \(bytes.count) bytes (limit \(limit)): prefix of \(k) bytes says \(partial), whole says \(full)")
                    break
                }
            }
        }
    }
}
