import XCTest
@testable import HTTPServer
@testable import TestSupport

/// Head parsing resumes where it stopped: a head trickled in many small reads costs time linear in
/// its size, and gives the same answer as parsing it whole.
final class IncrementalHeadTests: XCTestCase {
    /// 15,360 `a:` lines (60 KiB): inside the default 64 KiB header limit.
    static let trickleLines = 60 * 1024 / 4

    func testTrickledHeadIsScannedInLinearTime() throws {
        let parser = RequestHeadParser()
        var bytes = Array("GET /trickle HTTP/1.1\r\nHost: t\r\n".utf8)
        var scan = RequestHeadParser.Scan()
        // The connection feeds its whole (growing) buffer after every read, as it does here.
        for _ in 0..<Self.trickleLines {
            bytes.append(contentsOf: "a:\r\n".utf8)
            guard case .incomplete = parser.parse(bytes[...], resuming: &scan) else { return XCTFail("ended early") }
        }
        bytes.append(contentsOf: "\r\n".utf8)
        guard case .complete(let head, let consumed) = parser.parse(bytes[...], resuming: &scan) else { return XCTFail("not complete") }
        XCTAssertEqual(consumed, bytes.count)
        XCTAssertEqual(head.headers.values("a").count, Self.trickleLines)
        // Re-scanning from the start on every read would examine ~470 MB here.
        XCTAssertLessThan(scan.bytesExamined, 3 * bytes.count, "examined \(scan.bytesExamined) bytes for a \(bytes.count)-byte head")
    }

    /// Resumed parsing answers exactly what one-shot parsing of the same bytes answers, at every split.
    func testResumedParsingAgreesWithOneShotAtEverySplit() {
        let parser = RequestHeadParser(maxRequestLineBytes: 64, maxHeaderBytes: 128)
        let samples = RequestHeadParserTests.samples + [
            "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + String(repeating: "p", count: 120) + "\r\n\r\n",  // 431
            "GET /" + String(repeating: "u", count: 80) + " HTTP/1.1\r\n\r\n",                      // 414
            String(repeating: "\r\n", count: 40) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n",            // too many blank lines
            "\n\nGET / HTTP/1.1\nHost: h\n\n",
        ]
        for sample in samples {
            let bytes = Array((sample + "BODY").utf8)
            for step in [1, 2, 3, 7, 50] {
                var scan = RequestHeadParser.Scan()
                var end = 0
                while true {
                    end = min(bytes.count, end + step)
                    let resumed = RequestHeadParserTests.describe(parser.parse(bytes[..<end], resuming: &scan))
                    let oneShot = RequestHeadParserTests.describe(parser.parse(bytes[..<end]))
                    XCTAssertEqual(resumed, oneShot, "\(sample.debugDescription) fed \(step) bytes at a time, at \(end)")
                    if resumed != "incomplete" || end == bytes.count { break }
                }
            }
        }
    }

    func testHeadTrickledOneLinePerSegmentIsAnswered() throws {
        let server = try LiveServer { request in .text("\(request.path) \(request.headers.values("a").count)") }
        defer { server.stop() }
        let c = try server.client()
        try c.send("GET /trickle HTTP/1.1\r\nHost: t\r\n")
        for _ in 0..<Self.trickleLines { try c.send("a:\r\n") }
        try c.send("\r\n")
        let r = try c.readResponse(timeout: 20)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "/trickle \(Self.trickleLines)")
        // The connection is still in step: the next request is read from where the head ended.
        XCTAssertEqual(try c.exchange("GET /next HTTP/1.1\r\nHost: t\r\n\r\n").text, "/next 0")
    }

    func testTrickledHeadOverTheLimitIs431() throws {
        let server = try LiveServer { _ in .text("handled") }
        defer { server.stop() }
        let c = try server.client()
        try c.send("GET /big HTTP/1.1\r\nHost: t\r\n")
        // 66 KiB of lines: over the 64 KiB header section limit. The server may answer (and stop
        // reading) before all of it is sent.
        for _ in 0..<(66 * 1024 / 4) {
            do { try c.send("a:\r\n") } catch { break }
        }
        let r = try c.readResponse(timeout: 20)
        XCTAssertEqual(r.status, 431)
        XCTAssertEqual(r.header("Connection")?.lowercased(), "close")
    }
}
