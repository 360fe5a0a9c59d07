import FakeUpstream
import OpenAIWire
import Pipeline
import Upstream
import XCTest
@testable import TestSupport

/// Streamed runs: what the response writer receives, in order.
final class PipelineStreamTests: XCTestCase {
    var fixture: PipelineFixture!

    override func setUpWithError() throws { fixture = try PipelineFixture() }
    override func tearDown() async throws { await fixture.shutdown() }

    func run(critique: Bool = true, failure: PipelinePlan.CritiqueFailure = .fallback, observer: RecordingObserver = RecordingObserver()) async throws -> [PipelineEvent] {
        let run = PipelineRun(plan: try fixture.plan(critique: critique, failure: failure),
                              request: try PipelineFixture.request(PipelineFixture.basicRequest), observer: observer)
        return await PipelineFixture.collect(run)
    }

    func testCritiquedStream() async throws {
        try fixture.script("primary", #"{"chunks":["Dr","aft <thi","nk>plan</think> ans","wer"],"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14}}"#)
        try fixture.script("critique", #"{"chunks":["<think>","re-check</think>","\n","Final"," answer."],"usage":{"prompt_tokens":40,"completion_tokens":6,"total_tokens":46}}"#)
        let observer = RecordingObserver()
        let events = try await run(observer: observer)
        XCTAssertEqual(events.text, "Final answer.")
        XCTAssertEqual(Array(events.summaries.suffix(2)), ["finish(stop)", "usage(51,9,60)"])
        XCTAssertNil(events.failure)
        XCTAssertEqual(observer.events, ["started primary", "first token primary", "finished primary", "started critique", "first token critique", "finished critique"])

        // Both upstream calls stream and ask for usage; the critique sees the cleaned draft.
        let primary = fixture.fake.body("primary")
        XCTAssertEqual(primary["stream"], .bool(true))
        XCTAssertEqual(primary["stream_options"]?["include_usage"], .bool(true))
        let critique = fixture.fake.body("critique")
        XCTAssertEqual(critique["stream"], .bool(true))
        let messages = try XCTUnwrap(critique["messages"]?.arrayValue)
        XCTAssertEqual(messages.count, 4)
        XCTAssertEqual(messages[2], .object(["role": .string("assistant"), "content": .string("Draft answer")]))
        XCTAssertEqual(messages[3], .object(["role": .string("user"), "content": .string(PipelineFixture.prompt)]))
    }

    func testThinkTagsSplitAtEveryOffsetNeverReachTheClient() async throws {
        let text = "Lead <think>inner</think>Tail"
        let chars = Array(text)
        for cut in stride(from: 1, to: chars.count, by: 3) {
            let chunks = [String(chars[..<cut]), String(chars[cut...])]
            try fixture.script("primary", "{\"chunks\":\(JSONWriter.string(.array(chunks.map(JSONValue.string))))}")
            let events = try await run(critique: false)
            XCTAssertEqual(events.text, "Lead Tail", "cut at \(cut)")
        }
    }

    func testReasoningDeltasNeverBecomeContent() async throws {
        try fixture.script("primary", #"{"reasoning":"step one step two","chunks":["The ","draft"]}"#)
        let alone = try await run(critique: false)
        XCTAssertEqual(alone.text, "The draft")
        XCTAssertFalse(alone.summaries.joined().contains("step"), "\(alone.summaries)")
        _ = try await run()
        let critique = fixture.fake.body("critique")
        XCTAssertFalse(JSONWriter.string(.object(critique)).contains("step one"))
    }

    func testCritiqueOffRelaysThePrimaryLive() async throws {
        try fixture.script("primary", #"{"chunks":["a","b","c"]}"#)
        let events = try await run(critique: false)
        XCTAssertEqual(events.summaries, ["content(a)", "content(b)", "content(c)", "finish(stop)", "usage(10,5,15)"])
        XCTAssertEqual(fixture.fake.requests(model: "critique").count, 0)
    }

    func testToolCallsAreRelayedWithoutCritique() async throws {
        try fixture.script("primary", #"{"tool_calls":[{"id":"call_9","type":"function","function":{"name":"f","arguments":"{}"}}]}"#)
        let events = try await run()
        XCTAssertEqual(fixture.fake.requests(model: "critique").count, 0)
        XCTAssertEqual(events.summaries.first { $0.hasPrefix("delta") },
                       #"delta({"tool_calls":[{"id":"call_9","type":"function","function":{"name":"f","arguments":"{}"},"index":0}]})"#)
        XCTAssertTrue(events.summaries.contains("finish(tool_calls)"))
        XCTAssertEqual(events.text, "")
    }

    func testCritiqueFailureBeforeAnyOutputFallsBack() async throws {
        try fixture.script("primary", #"{"chunks":["<think>t</think>My ","draft"]}"#)
        try fixture.script("critique", #"{"status":502}"#)
        let events = try await run()
        XCTAssertEqual(events.summaries, ["fellBack", "content(My draft)", "finish(stop)", "usage(10,5,15)"])
    }

    /// CRITIQUE_FAILURE=error: an error, but the draft the proxy holds is still delivered first.
    func testCritiqueFailureInErrorMode() async throws {
        try fixture.script("critique", #"{"status":500}"#)
        let events = try await run(failure: .error)
        XCTAssertEqual(events.summaries, [#"delta({"reasoning_content":"Answer from primary"})"#, "failed(critique,502,upstream_error)"])
        XCTAssertTrue(events.failure?.openAI.message.contains("draft was delivered as reasoning_content") ?? false)
    }

    func testCritiqueCutMidStreamAfterOutputIsAnError() async throws {
        try fixture.script("critique", #"{"chunks":["one ","two ","three ","four"],"reset":"mid_stream"}"#)
        let events = try await run()
        XCTAssertTrue(events.text.hasPrefix("one "), "\(events.summaries)")
        XCTAssertEqual(events.summaries.last, "failed(critique,502,upstream_truncated)",
                       "text already sent cannot be replaced by the draft: the stream must end in an error")
        XCTAssertFalse(events.summaries.contains("fellBack"))
    }

    func testNoUsageWhenAnUpstreamNeverReportsIt() async throws {
        try fixture.script("critique", #"{"content":"x","stream_usage":"never"}"#)
        let events = try await run()
        XCTAssertFalse(events.summaries.contains { $0.hasPrefix("usage") }, "a partial sum would be wrong: \(events.summaries)")
        XCTAssertEqual(events.summaries.last, "finish(stop)")
    }

    func testStreamWithoutDoneButWithFinishIsComplete() async throws {
        try fixture.script("primary", #"{"chunks":["ok"],"no_done":true}"#)
        let events = try await run(critique: false)
        XCTAssertEqual(events.summaries, ["content(ok)", "finish(stop)", "usage(10,5,15)"])
    }
}
