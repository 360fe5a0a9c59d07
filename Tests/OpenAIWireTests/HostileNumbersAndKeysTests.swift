import OpenAIWire
import XCTest

/// Upstream numbers that would trap, and client objects that name a key twice.
final class HostileNumbersAndKeysTests: XCTestCase {
    func usage(_ json: String) -> Usage? { Usage(try? JSONParser.parse(json)) }

    func testUsageNeverTraps() {
        let max = usage(#"{"prompt_tokens":9223372036854775807,"completion_tokens":1}"#)
        XCTAssertEqual(max?.totalTokens, Int.max)
        let huge = Usage(promptTokens: 1 << 62 + 10, completionTokens: 1 << 62 + 10, totalTokens: 1 << 62 + 10)
        let sum = huge + huge
        XCTAssertEqual(sum.promptTokens, Int.max)
        XCTAssertEqual(sum.totalTokens, Int.max)
        XCTAssertNil(usage(#"{"prompt_tokens":-9223372036854775808,"completion_tokens":1}"#))
        XCTAssertNil(usage(#"{"prompt_tokens":1,"completion_tokens":-1}"#))
        XCTAssertNil(usage(#"{"prompt_tokens":1e400,"completion_tokens":1}"#))
        XCTAssertNil(usage(#"{"prompt_tokens":99999999999999999999999,"completion_tokens":1}"#))
        XCTAssertEqual(usage(#"{"prompt_tokens":3,"completion_tokens":2,"total_tokens":-7}"#)?.totalTokens, 5, "a bad total is recomputed")
        XCTAssertEqual(usage(#"{"prompt_tokens":3.0,"completion_tokens":2}"#)?.totalTokens, 5)
    }

    func testDuplicateKeysAreKeptByDefaultAndRejectedOnRequest() throws {
        let text = #"{"a":1,"b":{"c":[{"d":1,"d":2}]}}"#
        XCTAssertNoThrow(try JSONParser.parse(text))
        XCTAssertThrowsError(try JSONParser.parse(Array(text.utf8), rejectingDuplicateKeys: true)) { error in
            XCTAssertEqual((error as? JSONParser.Error)?.duplicateKeyPath, "b.c[0].d")
        }
        XCTAssertThrowsError(try JSONParser.parse(Array(#"{"model":"a","model":"b"}"#.utf8), rejectingDuplicateKeys: true)) { error in
            XCTAssertEqual((error as? JSONParser.Error)?.duplicateKeyPath, "model")
        }
        XCTAssertThrowsError(try JSONParser.parse(Array(#"[{"x":1},{"y":1,"y":2}]"#.utf8), rejectingDuplicateKeys: true)) { error in
            XCTAssertEqual((error as? JSONParser.Error)?.duplicateKeyPath, "[1].y")
        }
    }

    /// A hostile object with many keys costs linear time, checked by size not by clock: 50,000
    /// distinct keys parse, and a duplicate at the end is still found.
    func testManyKeysStillFindTheDuplicate() throws {
        var text = "{" + (0..<50_000).map { #""k\#($0)":0"# }.joined(separator: ",")
        XCTAssertNoThrow(try JSONParser.parse(Array((text + "}").utf8), rejectingDuplicateKeys: true))
        text += #","k17":1}"#
        XCTAssertThrowsError(try JSONParser.parse(Array(text.utf8), rejectingDuplicateKeys: true)) { error in
            XCTAssertEqual((error as? JSONParser.Error)?.duplicateKeyPath, "k17")
        }
    }

    func testChatRequestNamesTheDuplicatedKey() {
        XCTAssertThrowsError(try ChatRequest(validating: Array(#"{"messages":[{"role":"user","content":"x"}],"model":"a","model":"b"}"#.utf8))) { error in
            XCTAssertEqual((error as? OpenAIError)?.param, "model")
            XCTAssertEqual((error as? OpenAIError)?.status, 400)
        }
    }
}
