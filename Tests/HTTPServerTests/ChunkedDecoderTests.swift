import HTTP1Codec
import XCTest
@testable import HTTPServer
@testable import TestSupport

/// The chunked decoder is incremental: any split of the same bytes gives the same body, the same
/// end and the same count of bytes used.
final class ChunkedDecoderTests: XCTestCase {
    enum Outcome: Equatable {
        case complete(body: [UInt8], used: Int)
        case incomplete(body: [UInt8])
        case failed(Int)
    }

    /// Feeds `bytes` in the given pieces, the way the server does (each call gets what is left
    /// unconsumed plus the new piece).
    static func decode(_ bytes: [UInt8], splits: [Int], max: Int = 1 << 20) -> Outcome {
        var decoder = ChunkedDecoder(maxBodyBytes: max)
        var used = 0
        var buffer: [UInt8] = []
        var cursor = 0
        for end in splits + [bytes.count] where end >= cursor {
            buffer.append(contentsOf: bytes[cursor..<end])
            cursor = end
            do {
                let n = try decoder.feed(buffer[...])
                used += n
                buffer.removeFirst(n)
            } catch {
                return .failed(HTTPParseError(error).status)
            }
            if decoder.isComplete { return .complete(body: decoder.body, used: used) }
        }
        return .incomplete(body: decoder.body)
    }

    static let valid: [(String, String)] = [
        ("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"),
        ("a\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
        ("A;name=value\r\n0123456789\r\n0;last\r\n\r\n", "0123456789"),
        ("3 ; ext\r\nabc\r\n0\r\nTrailer-One: 1\r\nTrailer-Two: 2\r\n\r\n", "abc"),
        ("0\r\n\r\n", ""),
        ("000\r\n\r\n", ""),
        ("1\r\n\u{0}\r\n2\r\n\r\n\r\n0\r\n\r\n", "\u{0}\r\n"),
    ]

    func testValidBodiesAtEverySplit() {
        for (encoded, expected) in Self.valid {
            let bytes = Array((encoded + "NEXT REQUEST").utf8)
            let whole = Self.decode(bytes, splits: [])
            XCTAssertEqual(whole, .complete(body: Array(expected.utf8), used: encoded.utf8.count), encoded.debugDescription)
            for k in 0...bytes.count {
                XCTAssertEqual(Self.decode(bytes, splits: [k]), whole, "split at \(k) of \(encoded.debugDescription)")
            }
            XCTAssertEqual(Self.decode(bytes, splits: Array(0...bytes.count)), whole, "byte by byte: \(encoded.debugDescription)")
        }
    }

    func testThreeWaySplits() {
        let bytes = Array("4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n".utf8)
        let whole = Self.decode(bytes, splits: [])
        XCTAssertEqual(whole, .complete(body: Array("Wikipedia in\r\n\r\nchunks.".utf8), used: bytes.count))
        for i in 0...bytes.count {
            for j in i...bytes.count {
                XCTAssertEqual(Self.decode(bytes, splits: [i, j]), whole, "splits \(i), \(j)")
            }
        }
    }

    func testInvalidFramingIsRejectedAtEverySplit() {
        let invalid = [
            "x\r\nabc\r\n0\r\n\r\n",        // not hex
            "\r\nabc\r\n0\r\n\r\n",         // empty size
            ";ext\r\nabc\r\n0\r\n\r\n",     // extension without size
            "3\r\nabcX\r\n0\r\n\r\n",       // data longer than its size
            "3\rXabc\r\n0\r\n\r\n",         // CR not followed by LF
            "-3\r\nabc\r\n0\r\n\r\n",
            "1000000000000000\r\n",         // 16 hex digits
            "3\r\nabc\r\n0\r\n\rX",         // bad final CRLF
            "3;\u{01}\r\nabc\r\n0\r\n\r\n", // control character in an extension
            // Bare LF anywhere a line ends (RFC 9112 §7.1 asks for CRLF; leniency enables smuggling).
            "3\nabc\n0\n\n",
            "3\nabc\r\n0\r\n\r\n",             // size line
            "3;x=1\nabc\r\n0\r\n\r\n",         // size line with an extension
            "3\r\nabc\n0\r\n\r\n",             // chunk data
            "3\r\nabc\r\n0\n\r\n",             // last chunk
            "3\r\nabc\r\n0\r\n\n",             // final line
            "3\r\nabc\r\n0\r\nT: v\n\r\n",     // trailer line
            "3\r\nabc\r\n0\r\nT: v\r\r\n\r\n", // trailer CR not followed by LF
        ]
        for text in invalid {
            let bytes = Array(text.utf8)
            let whole = Self.decode(bytes, splits: [])
            guard case .failed(let status) = whole else { XCTFail("accepted \(text.debugDescription): \(whole)"); continue }
            XCTAssertTrue((400..<500).contains(status), text.debugDescription)
            for k in 0...bytes.count {
                XCTAssertEqual(Self.decode(bytes, splits: [k]), whole, "split at \(k) of \(text.debugDescription)")
            }
        }
    }

    func testBodyLimitIs413() {
        XCTAssertEqual(Self.decode(Array("10\r\n".utf8), splits: [], max: 15), .failed(413))
        XCTAssertEqual(Self.decode(Array("8\r\n12345678\r\n8\r\n".utf8), splits: [], max: 15), .failed(413))
        let fits = Array("8\r\n12345678\r\n7\r\n1234567\r\n0\r\n\r\n".utf8)
        XCTAssertEqual(Self.decode(fits, splits: [], max: 15), .complete(body: Array("123456781234567".utf8), used: fits.count))
        // A size line announcing petabytes is refused before any data arrives.
        XCTAssertEqual(Self.decode(Array("fffffffffffffff\r\n".utf8), splits: [], max: 1 << 20), .failed(413))
    }

    func testHugeTrailerSectionIsRejected() {
        var text = "0\r\n"
        for i in 0..<2000 { text += "X-Trailer-\(i): " + String(repeating: "t", count: 40) + "\r\n" }
        text += "\r\n"
        guard case .failed(let status) = Self.decode(Array(text.utf8), splits: []) else { return XCTFail("accepted 90 KB of trailers") }
        XCTAssertEqual(status, 431)
    }

    func testIncompleteInputStaysIncompleteAndKeepsDecodedPayload() {
        XCTAssertEqual(Self.decode(Array("5\r\nhel".utf8), splits: [1, 4]), .incomplete(body: Array("hel".utf8)))
        XCTAssertEqual(Self.decode(Array("5\r\nhello\r\n0\r\n".utf8), splits: []), .incomplete(body: Array("hello".utf8)))
    }

    func testTakeBodyHandsOverPayloadIncrementally() throws {
        var decoder = ChunkedDecoder(maxBodyBytes: 100)
        _ = try decoder.feed(Array("3\r\nabc\r\n".utf8)[...])
        XCTAssertEqual(decoder.takeBody(), Array("abc".utf8))
        XCTAssertEqual(decoder.body, [])
        _ = try decoder.feed(Array("2\r\nde\r\n0\r\n\r\n".utf8)[...])
        XCTAssertTrue(decoder.isComplete)
        XCTAssertEqual(decoder.takeBody(), Array("de".utf8))
    }
}
