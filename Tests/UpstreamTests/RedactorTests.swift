import Upstream
import XCTest

/// Keys are masked before any cut, in whole or in part, and across arbitrary stream splits.
final class RedactorTests: XCTestCase {
    let key = "sk-proj-Zq7Hn2Lw9Xv4Tb6Rk1Mc8Pd3Fg5Js0Ay"

    func testMaskedBeforeCutting() {
        let text = String(repeating: "x", count: 484) + key
        let cut = Redactor.excerpt(text, limit: 500, secrets: [key])
        XCTAssertFalse(cut.contains(String(key.prefix(8))), cut)
        XCTAssertTrue(cut.hasPrefix(String(repeating: "x", count: 484) + "***"), cut)
    }

    func testAnEchoedPrefixOfTheKeyIsMaskedToo() {
        XCTAssertEqual(Redactor.redact("key \(key.prefix(20)) is invalid", secrets: [key]), "key *** is invalid")
        XCTAssertEqual(Redactor.redact("key \(key.prefix(5)) short", secrets: [key]), "key \(key.prefix(5)) short",
                       "five characters are no key material worth hiding")
    }

    func testStreamSplitAtEveryOffset() {
        let text = Array("before \(key) middle \(key.prefix(12))".utf8)
        for split in 1..<text.count {
            var redactor = StreamRedactor(secrets: [key])
            let out = redactor.feed(Array(text[..<split])) + redactor.feed(Array(text[split...])) + redactor.finish()
            XCTAssertEqual(String(decoding: out, as: UTF8.self), "before *** middle ***", "split at \(split)")
        }
    }

    func testByteAtATime() {
        var redactor = StreamRedactor(secrets: ["short-key-1234", key])
        var out: [UInt8] = []
        for b in Array("a \(key) b short-key-1234 c".utf8) { out += redactor.feed([b]) }
        out += redactor.finish()
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "a *** b *** c")
    }
}
