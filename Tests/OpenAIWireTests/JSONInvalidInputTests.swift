import XCTest
@testable import OpenAIWire

/// The parser is strict (RFC 8259) and bounded: malformed or hostile input is an error, never a
/// guess and never a crash.
final class JSONInvalidInputTests: XCTestCase {
    func assertRejected(_ text: String, _ fragment: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let v = try JSONParser.parse(text)
            XCTFail("accepted \(text.debugDescription) as \(v)", file: file, line: line)
        } catch {
            XCTAssertFalse(error.description.isEmpty, file: file, line: line)
            XCTAssertTrue(error.offset >= 0 && error.offset <= text.utf8.count, "offset \(error.offset)", file: file, line: line)
            if let fragment { XCTAssertTrue(error.message.contains(fragment), "\(error.message) lacks '\(fragment)'", file: file, line: line) }
        }
    }

    func testTrailingCommas() {
        assertRejected("[1,2,]")
        assertRejected(#"{"a":1,}"#)
        assertRejected("[,]")
        assertRejected(#"{,}"#)
        assertRejected("[1,,2]")
    }

    func testBadEscapes() {
        assertRejected(#""\x41""#, "escape")
        assertRejected(#""\u12""#, "escape")
        assertRejected(#""\u12G4""#, "escape")
        assertRejected(#""\'""#, "escape")
        assertRejected(#""abc\"#)
        assertRejected(#""\ud83d""#, "surrogate")          // lone high surrogate
        assertRejected(#""\ude00""#, "surrogate")          // lone low surrogate
        assertRejected(#""\ud83d\u0041""#, "surrogate")    // high + non-low
        assertRejected(#""\ud83dx""#, "surrogate")
    }

    func testControlCharactersAndInvalidUTF8InStrings() {
        assertRejected("\"a\nb\"", "control")
        assertRejected("\"tab\there\"", "control")
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]), "invalid UTF-8")
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xFF, 0x22]))
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0x5C, 0x6E, 0xED, 0xA0, 0x80, 0x22]), "UTF-8 encoded surrogate after an escape")
    }

    func testNumbersOutsideTheGrammar() {
        for bad in ["01", "-", "1.", ".5", "+1", "1e", "1e+", "--1", "0x10", "NaN", "Infinity", "-Infinity", "1.2.3", "1_000"] {
            assertRejected(bad)
        }
    }

    func testStructuralErrors() {
        for bad in ["", " ", "{", "[", "}", "]", #"{"a"}"#, #"{"a":}"#, #"{a:1}"#, #"{'a':1}"#, "[1 2]", #"{"a":1 "b":2}"#,
                    "tru", "nul", "True", "[1]]", "{} {}", "1 2", "\"unterminated", "// comment\n1", "/* c */ 1", "[1]x"] {
            assertRejected(bad)
        }
        assertRejected("[1] x", "trailing")
    }

    func testNestingLimit() throws {
        let limit = JSONParser.maxDepth
        let ok = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        XCTAssertNoThrow(try JSONParser.parse(ok))
        let tooDeep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        assertRejected(tooDeep, "deep")
        let objects = String(repeating: #"{"a":"#, count: limit + 1) + "1" + String(repeating: "}", count: limit + 1)
        assertRejected(objects, "deep")
        // Hostile depth far beyond the limit fails fast instead of exhausting the stack.
        assertRejected(String(repeating: "[", count: 1_000_000), "deep")
    }

    func testErrorOffsetPointsAtTheProblem() {
        do {
            _ = try JSONParser.parse(#"{"a":[1,2,}"#)
            XCTFail("accepted")
        } catch {
            XCTAssertEqual(error.offset, 10)
        }
    }
}
