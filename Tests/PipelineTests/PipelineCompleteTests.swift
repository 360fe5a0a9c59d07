import FakeUpstream
import OpenAIWire
import Pipeline
import Upstream
import XCTest
@testable import TestSupport

/// Non-streamed runs against the fake upstream over a real socket.
final class PipelineCompleteTests: XCTestCase {
    var fixture: PipelineFixture!

    override func setUpWithError() throws { fixture = try PipelineFixture() }
    override func tearDown() async throws { await fixture.shutdown() }

    func testDraftThenCritiqueWithTheRightMessages() async throws {
        try fixture.script("primary", #"{"content":"Draft <think>hidden musing</think> four","usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14}}"#)
        try fixture.script("critique", #"{"content":"<think>check</think>\n\nThe answer is 4.","usage":{"prompt_tokens":40,"completion_tokens":6,"total_tokens":46}}"#)
        let request = try PipelineFixture.request(#"{"model":"hydracodedone","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"What is 2+2?"}],"temperature":0.3,"top_p":0.9,"max_tokens":50,"seed":7,"stop":["\n\n"],"response_format":{"type":"text"},"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","user":"u1","x_vendor":1}"#)
        let observer = RecordingObserver()
        let answer = try await PipelineRun(plan: try fixture.plan(), request: request, observer: observer).complete()

        XCTAssertEqual(answer.message["content"]?.stringValue, "The answer is 4.")
        XCTAssertEqual(answer.message["role"]?.stringValue, "assistant")
        XCTAssertTrue(answer.critiqued)
        XCTAssertFalse(answer.fellBack)
        XCTAssertEqual(answer.finishReason, "stop")
        XCTAssertEqual(answer.usage, Usage(promptTokens: 51, completionTokens: 9, totalTokens: 60))
        XCTAssertEqual(observer.events, ["started primary", "finished primary", "started critique", "finished critique"])

        // The primary gets the client's body unchanged but for the model and streaming flags.
        let primary = fixture.fake.body("primary")
        var expected = request.body
        expected["model"] = .string("primary")
        expected["stream"] = .bool(false)
        XCTAssertEqual(JSONWriter.string(.object(primary)), JSONWriter.string(.object(expected)))

        // The critique gets: original messages + the cleaned draft + the critique prompt.
        let critique = fixture.fake.body("critique")
        var messages = request.messages
        messages.append(.object(["role": .string("assistant"), "content": .string("Draft four")]))
        messages.append(.object(["role": .string("user"), "content": .string(PipelineFixture.prompt)]))
        XCTAssertEqual(critique["messages"], .array(messages))
        XCTAssertEqual(critique["model"]?.stringValue, "critique")
        XCTAssertEqual(critique["stream"], .bool(false))
        for key in ["temperature", "top_p", "max_tokens", "seed", "stop", "response_format"] {
            XCTAssertEqual(critique[key], request.body[key], "sampling field \(key) must be copied")
        }
        for key in ["tools", "tool_choice", "user", "x_vendor"] {
            XCTAssertNil(critique[key], "\(key) must not reach the critique")
        }
    }

    func testHeadersSentUpstream() async throws {
        _ = try await PipelineRun(plan: try fixture.plan(), request: try PipelineFixture.request(PipelineFixture.basicRequest),
                                  observer: RecordingObserver()).complete()
        let p = try XCTUnwrap(fixture.fake.requests(model: "primary").first)
        XCTAssertEqual(p.headers["authorization"], "Bearer \(PipelineFixture.primaryKey)")
        XCTAssertEqual(p.headers["x-request-id"], "req-123")
        XCTAssertEqual(p.headers["content-type"], "application/json")
        XCTAssertEqual(p.path, "/v1/chat/completions")
        let c = try XCTUnwrap(fixture.fake.requests(model: "critique").first)
        XCTAssertNil(c.headers["authorization"], "the critique stage has no key configured")
    }

    func testReasoningNeverBecomesContent() async throws {
        try fixture.script("primary", #"{"content":"Visible","reasoning":"secret chain of thought"}"#)
        let alone = try await PipelineRun(plan: try fixture.plan(critique: false), request: try PipelineFixture.request(PipelineFixture.basicRequest),
                                          observer: RecordingObserver()).complete()
        XCTAssertEqual(alone.message["content"]?.stringValue, "Visible")
        XCTAssertNil(alone.message["reasoning"])
        XCTAssertFalse(JSONWriter.string(.object(alone.message)).contains("secret"))

        _ = try await PipelineRun(plan: try fixture.plan(), request: try PipelineFixture.request(PipelineFixture.basicRequest),
                                  observer: RecordingObserver()).complete()
        let critique = fixture.fake.body("critique")
        XCTAssertFalse(JSONWriter.string(.object(critique)).contains("secret"), "reasoning leaked into the critique request")
    }

    func testThinkBlocksStrippedWhenCritiqueIsOff() async throws {
        try fixture.script("primary", #"{"content":"<think>a\nb</think>\n  Result"}"#)
        let answer = try await PipelineRun(plan: try fixture.plan(critique: false), request: try PipelineFixture.request(PipelineFixture.basicRequest),
                                           observer: RecordingObserver()).complete()
        XCTAssertEqual(answer.message["content"]?.stringValue, "Result")
        XCTAssertFalse(answer.critiqued)
        XCTAssertEqual(fixture.fake.requests(model: "critique").count, 0)
        XCTAssertEqual(answer.usage, Usage(promptTokens: 10, completionTokens: 5, totalTokens: 15))
    }

    func testToolCallsSkipTheCritiqueAndReturnAsIs() async throws {
        let calls = #"[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]"#
        try fixture.script("primary", #"{"tool_calls":\#(calls)}"#)
        let answer = try await PipelineRun(plan: try fixture.plan(), request: try PipelineFixture.request(PipelineFixture.basicRequest),
                                           observer: RecordingObserver()).complete()
        XCTAssertEqual(fixture.fake.requests(model: "critique").count, 0, "tool calls must not be critiqued")
        XCTAssertEqual(answer.message["tool_calls"], try JSONParser.parse(calls))
        XCTAssertEqual(answer.message["content"], .null)
        XCTAssertEqual(answer.finishReason, "tool_calls")
        XCTAssertFalse(answer.critiqued)
    }

    func testCritiqueFailureFallsBackToTheDraft() async throws {
        try fixture.script("primary", #"{"content":"<think>x</think>The draft"}"#)
        try fixture.script("critique", #"{"status":500}"#)
        let observer = RecordingObserver()
        let answer = try await PipelineRun(plan: try fixture.plan(), request: try PipelineFixture.request(PipelineFixture.basicRequest),
                                           observer: observer).complete()
        XCTAssertTrue(answer.fellBack)
        XCTAssertFalse(answer.critiqued)
        XCTAssertEqual(answer.message["content"]?.stringValue, "The draft")
        XCTAssertEqual(answer.usage, Usage(promptTokens: 10, completionTokens: 5, totalTokens: 15), "only the primary's usage")
        XCTAssertTrue(observer.events.contains("fell back status_5xx"), "\(observer.events)")
    }

    func testCritiqueFailureInErrorMode() async throws {
        try fixture.script("critique", #"{"status":503,"error_body":"{\"error\":{\"message\":\"critique overloaded\"}}"}"#)
        let run = PipelineRun(plan: try fixture.plan(failure: .error), request: try PipelineFixture.request(PipelineFixture.basicRequest),
                              observer: RecordingObserver())
        switch await run.result() {
        case .success: XCTFail("error mode must fail")
        case .failure(let error):
            XCTAssertEqual(error.stage, .critique)
            XCTAssertEqual(error.openAI.status, 502)
            XCTAssertTrue(error.openAI.message.contains("critique overloaded"), error.openAI.message)
            XCTAssertTrue(error.openAI.message.contains("critique"), error.openAI.message)
        }
    }

    func testUpstreamMessagesNeverEchoTheKey() async throws {
        try fixture.script("primary", #"{"status":401,"error_body":"{\"error\":{\"message\":\"Incorrect API key provided: \#(PipelineFixture.primaryKey)\"}}"}"#)
        let run = PipelineRun(plan: try fixture.plan(), request: try PipelineFixture.request(PipelineFixture.basicRequest), observer: RecordingObserver())
        switch await run.result() {
        case .success: XCTFail("a 401 must fail")
        case .failure(let error):
            XCTAssertEqual(error.openAI.status, 401)
            XCTAssertFalse(error.openAI.message.contains(PipelineFixture.primaryKey), error.openAI.message)
            XCTAssertFalse(error.openAI.message.contains("0123456789"), error.openAI.message)
        }
    }
}
