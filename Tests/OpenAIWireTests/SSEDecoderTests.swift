import XCTest
@testable import OpenAIWire
@testable import TestSupport

/// Upstream event streams decode the same however the bytes are split.
final class SSEDecoderTests: XCTestCase {
    /// Feeds `text` cut at the given offsets; returns every event in order.
    static func decode(_ bytes: [UInt8], cuts: [Int]) throws -> [String] {
        var decoder = SSEDecoder()
        var events: [String] = []
        var start = 0
        for cut in cuts + [bytes.count] where cut >= start {
            events += try decoder.feed(bytes[start..<cut])
            start = cut
        }
        return events
    }

    func assertEverySplit(_ text: String, _ expected: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let bytes = Array(text.utf8)
        XCTAssertEqual(try Self.decode(bytes, cuts: []), expected, "whole", file: file, line: line)
        for k in 0...bytes.count {
            XCTAssertEqual(try Self.decode(bytes, cuts: [k]), expected, "split at \(k)", file: file, line: line)
        }
        XCTAssertEqual(try Self.decode(bytes, cuts: Array(0...bytes.count)), expected, "byte by byte", file: file, line: line)
    }

    func testLineEndingsLFCRLFAndCR() throws {
        let events = [#"{"a":1}"#, "[DONE]"]
        try assertEverySplit("data: {\"a\":1}\n\ndata: [DONE]\n\n", events)
        try assertEverySplit("data: {\"a\":1}\r\n\r\ndata: [DONE]\r\n\r\n", events)
        try assertEverySplit("data: {\"a\":1}\r\rdata: [DONE]\r\r", events)
        try assertEverySplit("data: {\"a\":1}\r\n\ndata: [DONE]\n\r\n", events)
    }

    func testMultiLineDataJoinsWithNewlines() throws {
        try assertEverySplit("data: first\ndata: second\r\ndata:third\n\n", ["first\nsecond\nthird"])
        try assertEverySplit("data\ndata: x\n\n", ["\nx"])
    }

    func testCommentsAndOtherFieldsAreIgnored() throws {
        try assertEverySplit(": keep-alive\n\n: ping - 2026-01-01\n\nevent: message\nid: 7\nretry: 100\ndata: payload\n\n", ["payload"])
        try assertEverySplit(":\n\ndata: x\n: comment inside an event\n\n", ["x"])
        try assertEverySplit("datum: no\ndata2: no\nDATA: no\n\n", [])
    }

    func testOnlyOneLeadingSpaceIsRemoved() throws {
        try assertEverySplit("data:  two spaces\n\ndata:none\n\ndata: \n\n", [" two spaces", "none", ""])
    }

    func testEmptyLinesWithoutDataDispatchNothing() throws {
        try assertEverySplit("\n\n\r\n\r\r\n", [])
    }

    func testUnicodePayloadSplitInsideACharacter() throws {
        try assertEverySplit("data: {\"c\":\"😀 ü 直\"}\n\n", [#"{"c":"😀 ü 直"}"#])
    }

    func testPartialEventIsReported() throws {
        var d = SSEDecoder()
        XCTAssertFalse(d.hasPartialEvent)
        XCTAssertEqual(try d.feed(Array("data: {\"a\"".utf8)), [])
        XCTAssertTrue(d.hasPartialEvent)
        XCTAssertEqual(try d.feed(Array(":1}\n".utf8)), [])
        XCTAssertTrue(d.hasPartialEvent, "a data line without its blank line is still unfinished")
        XCTAssertEqual(try d.feed(Array("\n".utf8)), [#"{"a":1}"#])
        XCTAssertFalse(d.hasPartialEvent)
    }

    func testOverflowIsAnError() {
        var d = SSEDecoder(maxEventBytes: 64)
        XCTAssertThrowsError(try d.feed(Array(("data: " + String(repeating: "x", count: 100)).utf8)))
        var multi = SSEDecoder(maxEventBytes: 64)
        XCTAssertThrowsError(try multi.feed(Array(String(repeating: "data: 0123456789\n", count: 10).utf8)), "the limit covers the whole event")
        var fine = SSEDecoder(maxEventBytes: 64)
        XCTAssertEqual(try fine.feed(Array(String(repeating: "data: 0123456789\n\n", count: 100).utf8)).count, 100)
    }

    func testRealisticOpenAIStream() throws {
        let stream = """
        data: {"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

        data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}

        : ping

        data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

        data: [DONE]


        """
        let events = try Self.decode(Array(stream.utf8), cuts: [])
        XCTAssertEqual(events.count, 4)
        XCTAssertEqual(events.last, "[DONE]")
        XCTAssertEqual(try JSONParser.parse(events[1])["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue, "Hel")
        var rng = SeededGenerator(seed: 5)
        let bytes = Array(stream.utf8)
        for _ in 0..<300 {
            let cuts = (0..<5).map { _ in rng.int(bytes.count + 1) }.sorted()
            XCTAssertEqual(try Self.decode(bytes, cuts: cuts), events, "cuts \(cuts)")
        }
    }
}
