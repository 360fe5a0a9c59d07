import XCTest
@testable import OpenAIWire
@testable import TestSupport

/// What a client sends reaches the upstream unchanged: key order, number text, unicode.
final class JSONRoundTripTests: XCTestCase {
    func roundTrip(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let value = try JSONParser.parse(text)
        let written = JSONWriter.string(value)
        // Writing is a fixed point: parsing what we wrote gives the same value again.
        XCTAssertEqual(try JSONParser.parse(written), value, file: file, line: line)
        return written
    }

    func testCompactInputIsReproducedByteForByte() throws {
        let samples = [
            #"{"z":1,"a":2,"m":{"y":true,"b":false,"n":null},"list":[3,2,1]}"#,
            #"{"model":"llama3","messages":[{"role":"user","content":"hi"}],"temperature":0.7,"max_tokens":100,"x_unknown":{"k":[]}}"#,
            #"[1,1.0,1e5,1E5,-0,-0.0,1.5e-7,12345678901234567890123,0.1000]"#,
            #""plain""#, "true", "false", "null", "0", "-1", "[]", "{}",
            #"{"dup":1,"dup":2}"#,
        ]
        for s in samples { XCTAssertEqual(try roundTrip(s), s) }
    }

    func testKeyOrderIsPreservedAndSettingKeepsPosition() throws {
        guard case .object(var o) = try JSONParser.parse(#"{"c":1,"a":2,"b":3}"#) else { return XCTFail() }
        XCTAssertEqual(o.keys, ["c", "a", "b"])
        o["a"] = .string("changed")
        o["new"] = .int(4)
        o["c"] = nil
        XCTAssertEqual(JSONWriter.string(.object(o)), #"{"a":"changed","b":3,"new":4}"#)
    }

    func testNumbersKeepTheirText() throws {
        XCTAssertEqual(try JSONParser.parse("1"), .number("1"))
        XCTAssertEqual(try JSONParser.parse("1.0"), .number("1.0"))
        XCTAssertEqual(try JSONParser.parse("1e5"), .number("1e5"))
        XCTAssertNotEqual(try JSONParser.parse("1"), try JSONParser.parse("1.0"), "integer and float must stay distinguishable")
        XCTAssertEqual(try roundTrip("[1,1.0,1e5,1E+5,2.50]"), "[1,1.0,1e5,1E+5,2.50]")
        XCTAssertEqual(JSONValue.number("1e5").intValue, 100_000)
        XCTAssertEqual(JSONValue.number("3").intValue, 3)
        XCTAssertEqual(JSONValue.number("3.0").intValue, 3)
        XCTAssertNil(JSONValue.number("3.5").intValue)
        XCTAssertEqual(JSONWriter.string(.int(-42)), "-42")
    }

    func testUnicodeAndSurrogatePairs() throws {
        XCTAssertEqual(try JSONParser.parse(#""h\u00e9llo""#), .string("héllo"))
        XCTAssertEqual(try JSONParser.parse(#""\ud83d\ude00""#), .string("😀"))
        XCTAssertEqual(try JSONParser.parse(#""\uD834\uDD1E clef""#), .string("𝄞 clef"))
        XCTAssertEqual(try JSONParser.parse("\"直接 😀 ü\""), .string("直接 😀 ü"))
        // Raw UTF-8 is written as UTF-8, not escaped.
        XCTAssertEqual(JSONWriter.string(.string("😀 ü 直接")), "\"😀 ü 直接\"")
        XCTAssertEqual(try roundTrip("\"😀 ü 直接\""), "\"😀 ü 直接\"")
        XCTAssertEqual(try JSONParser.parse(#""\u0000""#), .string("\u{0}"))
    }

    func testEscapes() throws {
        XCTAssertEqual(try JSONParser.parse(#""a\"b\\c\/d\be\ff\ng\rh\ti""#), .string("a\"b\\c/d\u{8}e\u{C}f\ng\rh\ti"))
        let written = JSONWriter.string(.string("q\" b\\ n\n r\r t\t nul\u{0} bell\u{7} us\u{1F} del\u{7F}"))
        XCTAssertEqual(written, #""q\" b\\ n\n r\r t\t nul\u0000 bell\u0007 us\u001f del"# + "\u{7F}\"")
        XCTAssertEqual(try JSONParser.parse(written), .string("q\" b\\ n\n r\r t\t nul\u{0} bell\u{7} us\u{1F} del\u{7F}"))
    }

    func testWhitespaceIsAcceptedAndDropped() throws {
        XCTAssertEqual(try roundTrip(" \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } }\n "), #"{"a":[1,2],"b":{}}"#)
    }

    func testRandomDocumentsSurviveRoundTrips() throws {
        var rng = SeededGenerator(seed: 2024)
        for _ in 0..<2000 {
            let value = randomValue(&rng, depth: 0)
            let text = JSONWriter.string(value)
            let parsed = try JSONParser.parse(text)
            XCTAssertEqual(parsed, value, text)
            XCTAssertEqual(JSONWriter.string(parsed), text)
        }
    }

    func testAccessors() throws {
        let v = try JSONParser.parse(#"{"s":"x","b":true,"n":null,"a":[1],"o":{"k":"v"}}"#)
        XCTAssertEqual(v["s"]?.stringValue, "x")
        XCTAssertEqual(v["b"]?.boolValue, true)
        XCTAssertEqual(v["n"]?.isNull, true)
        XCTAssertEqual(v["a"]?.arrayValue?.count, 1)
        XCTAssertEqual(v["o"]?["k"]?.stringValue, "v")
        XCTAssertNil(v["missing"])
        XCTAssertNil(v["s"]?["k"])
        XCTAssertEqual(v["o"]?.typeName, "object")
        XCTAssertEqual(v["a"]?.typeName, "array")
    }

    func randomValue(_ rng: inout SeededGenerator, depth: Int) -> JSONValue {
        let pick = depth > 4 ? rng.int(5) : rng.int(7)
        switch pick {
        case 0: return .null
        case 1: return .bool(rng.int(2) == 0)
        case 2:
            let forms = ["0", "-1", "17", "3.25", "1e10", "-2.5E-3", "1.0", "12345678901234567890"]
            return .number(forms[rng.int(forms.count)])
        case 3, 4:
            let alphabet: [String] = ["a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\u{1}", "é", "😀", "直", "\u{7F}", "\u{2028}"]
            return .string((0..<rng.int(12)).map { _ in alphabet[rng.int(alphabet.count)] }.joined())
        case 5: return .array((0..<rng.int(5)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            var o = JSONObject()
            for i in 0..<rng.int(5) { o["k\(i)_\(rng.int(100))"] = randomValue(&rng, depth: depth + 1) }
            return .object(o)
        }
    }
}
