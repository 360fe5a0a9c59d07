import XCTest
@testable import OpenAIWire

/// Validation names the offending field, in OpenAI's words; everything else passes through.
final class ChatRequestTests: XCTestCase {
    func validate(_ json: String) throws(OpenAIError) -> ChatRequest {
        try ChatRequest(validating: Array(json.utf8))
    }

    func assertInvalid(_ json: String, param: String?, mentions: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try validate(json)
            XCTFail("accepted \(json)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.status, 400, file: file, line: line)
            XCTAssertEqual(error.type, "invalid_request_error", file: file, line: line)
            XCTAssertEqual(error.param, param, file: file, line: line)
            XCTAssertTrue(error.message.contains(mentions), "'\(error.message)' does not mention \(mentions)", file: file, line: line)
            // The error renders in OpenAI's shape.
            let rendered = try? JSONParser.parse(error.bytes)
            XCTAssertEqual(rendered?["error"]?["message"]?.stringValue, error.message, file: file, line: line)
            XCTAssertEqual(rendered?["error"]?["param"], param.map(JSONValue.string) ?? .null, file: file, line: line)
            XCTAssertNotNil(rendered?["error"]?["code"], file: file, line: line)
        }
    }

    func testEachErrorNamesTheField() {
        assertInvalid("not json", param: nil, mentions: "parse the JSON")
        assertInvalid("[1]", param: nil, mentions: "array")
        assertInvalid("{}", param: "messages", mentions: "'messages'")
        assertInvalid(#"{"messages":"hi"}"#, param: "messages", mentions: "'messages'")
        assertInvalid(#"{"messages":[]}"#, param: "messages", mentions: "empty array")
        assertInvalid(#"{"messages":["hi"]}"#, param: "messages[0]", mentions: "'messages[0]'")
        assertInvalid(#"{"messages":[{"role":"user","content":"a"},{"content":"b"}]}"#, param: "messages[1].role", mentions: "'messages[1].role'")
        assertInvalid(#"{"messages":[{"role":7}]}"#, param: "messages[0].role", mentions: "expected a string")
        assertInvalid(#"{"messages":[{"role":"user"}],"stream":"yes"}"#, param: "stream", mentions: "'stream'")
        assertInvalid(#"{"messages":[{"role":"user"}],"n":2}"#, param: "n", mentions: "'n'")
        assertInvalid(#"{"messages":[{"role":"user"}],"model":42}"#, param: "model", mentions: "'model'")
        assertInvalid(#"{"messages":[{"role":"user"}],"stream_options":true}"#, param: "stream_options", mentions: "'stream_options'")
        assertInvalid(#"{"messages":[{"role":"user"}],"stream_options":{"include_usage":"yes"}}"#,
                      param: "stream_options.include_usage", mentions: "'stream_options.include_usage'")
    }

    func testValidRequestKeepsEveryField() throws {
        let json = #"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"temperature":0.20,"tools":[{"type":"function"}],"vendor_extension":{"x":[1,2.0]}}"#
        let r = try validate(json)
        XCTAssertEqual(JSONWriter.string(.object(r.body)), json, "unknown fields, order and number text survive")
        XCTAssertTrue(r.stream)
        XCTAssertTrue(r.includeUsage)
        XCTAssertEqual(r.model, "m")
        XCTAssertEqual(r.messages.count, 1)
    }

    func testDefaultsAndNulls() throws {
        let r = try validate(#"{"messages":[{"role":"user","content":"x"}],"stream":null,"n":1,"model":null,"stream_options":null}"#)
        XCTAssertFalse(r.stream)
        XCTAssertFalse(r.includeUsage)
        XCTAssertNil(r.model)
        XCTAssertNoThrow(try validate(#"{"messages":[{"role":"user"}],"n":1.0}"#))
    }

    func testLastUserText() throws {
        let plain = try validate(####"{"messages":[{"role":"user","content":"first"},{"role":"assistant","content":"a"},{"role":"user","content":"### Task: title"},{"role":"assistant","content":"b"}]}"####)
        XCTAssertEqual(plain.lastUserText, "### Task: title")
        let parts = try validate(#"{"messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:"}},{"type":"text","text":"here"}]}]}"#)
        XCTAssertEqual(parts.lastUserText, "look\nhere")
        let none = try validate(#"{"messages":[{"role":"system","content":"s"}]}"#)
        XCTAssertNil(none.lastUserText)
    }
}

final class UsageAndErrorTests: XCTestCase {
    func testUsageSum() {
        let a = Usage(promptTokens: 10, completionTokens: 5)
        XCTAssertEqual(a.totalTokens, 15)
        let b = Usage(promptTokens: 30, completionTokens: 7, totalTokens: 40)
        let sum = a + b
        XCTAssertEqual(sum, Usage(promptTokens: 40, completionTokens: 12, totalTokens: 55))
        XCTAssertEqual(JSONWriter.string(sum.json), #"{"prompt_tokens":40,"completion_tokens":12,"total_tokens":55}"#)
    }

    func testUsageFromJSON() throws {
        XCTAssertEqual(Usage(try JSONParser.parse(#"{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{}}"#)),
                       Usage(promptTokens: 3, completionTokens: 4, totalTokens: 7))
        XCTAssertEqual(Usage(try JSONParser.parse(#"{"prompt_tokens":3,"completion_tokens":4}"#))?.totalTokens, 7)
        XCTAssertNil(Usage(try JSONParser.parse(#"{"prompt_tokens":3}"#)))
        XCTAssertNil(Usage(.null))
        XCTAssertNil(Usage(nil))
    }

    func testOpenAIErrorShapeAndDefaultTypes() throws {
        let e = OpenAIError(status: 502, message: "boom")
        XCTAssertEqual(JSONWriter.string(e.json), #"{"error":{"message":"boom","type":"upstream_error","param":null,"code":null}}"#)
        XCTAssertEqual(OpenAIError.defaultType(401), "authentication_error")
        XCTAssertEqual(OpenAIError.defaultType(404), "not_found_error")
        XCTAssertEqual(OpenAIError.defaultType(429), "rate_limit_error")
        XCTAssertEqual(OpenAIError.defaultType(413), "invalid_request_error")
        XCTAssertEqual(OpenAIError.defaultType(504), "timeout_error")
        XCTAssertEqual(OpenAIError.defaultType(500), "server_error")
    }
}
