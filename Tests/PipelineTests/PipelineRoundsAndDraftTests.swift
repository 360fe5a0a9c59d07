import FakeUpstream
import OpenAIWire
import Pipeline
import Upstream
import XCTest
@testable import TestSupport

/// Critique rounds, the visible draft (`reasoning_content`) and the draft size bound.
final class PipelineRoundsAndDraftTests: XCTestCase {
    var fixture: PipelineFixture!

    override func setUpWithError() throws { fixture = try PipelineFixture() }
    override func tearDown() async throws { await fixture.shutdown() }

    func plan(rounds: Int = 1, showDraft: Bool = false, maxDraftBytes: Int = 64 << 20, critique: Bool = true) throws -> PipelinePlan {
        var p = try fixture.plan(critique: critique)
        p.rounds = rounds
        p.showDraft = showDraft
        p.maxDraftBytes = maxDraftBytes
        return p
    }

    func testTwoRoundsRefineTheRefinedAnswer() async throws {
        try fixture.script("primary", #"{"content":"draft v0"}"#)
        try fixture.script("critique", #"{"content":"<think>r</think>better"}"#)
        let request = try PipelineFixture.request(PipelineFixture.basicRequest)
        let answer = try await PipelineRun(plan: try plan(rounds: 2), request: request, observer: RecordingObserver()).complete()
        let calls = fixture.fake.requests(model: "critique")
        XCTAssertEqual(calls.count, 2)
        let drafts = calls.map { $0.body["messages"]?.arrayValue?.dropLast().last?["content"]?.stringValue }
        XCTAssertEqual(drafts, ["draft v0", "better"], "round 2 refines round 1's cleaned answer")
        XCTAssertEqual(answer.message["content"]?.stringValue, "better")
        XCTAssertEqual(answer.usage, Usage(promptTokens: 30, completionTokens: 15, totalTokens: 45), "three calls")
        XCTAssertTrue(answer.critiqued)
    }

    func testTwoRoundsStreamedShowOnlyTheLastRound() async throws {
        try fixture.script("primary", #"{"chunks":["draft"]}"#)
        try fixture.script("critique", #"{"chunks":["re","fined"]}"#)
        let events = await PipelineFixture.collect(PipelineRun(plan: try plan(rounds: 2), request: try PipelineFixture.request(PipelineFixture.basicRequest).streaming,
                                                               observer: RecordingObserver()))
        XCTAssertEqual(events.summaries, ["content(re)", "content(fined)", "finish(stop)", "usage(30,15,45)"])
        XCTAssertEqual(fixture.fake.requests(model: "critique").count, 2)
    }

    func testShowDraftStreamsTheDraftAsReasoning() async throws {
        try fixture.script("primary", #"{"chunks":["my ","<think>x</think>draft"]}"#)
        try fixture.script("critique", #"{"chunks":["final"]}"#)
        let events = await PipelineFixture.collect(PipelineRun(plan: try plan(showDraft: true), request: try PipelineFixture.request(PipelineFixture.basicRequest).streaming,
                                                               observer: RecordingObserver()))
        XCTAssertEqual(events.summaries, [#"delta({"reasoning_content":"my "})"#, #"delta({"reasoning_content":"draft"})"#,
                                          "content(final)", "finish(stop)", "usage(20,10,30)"])
    }

    func testShowDraftNonStreamed() async throws {
        try fixture.script("primary", #"{"content":"the draft"}"#)
        try fixture.script("critique", #"{"content":"the answer"}"#)
        let answer = try await PipelineRun(plan: try plan(showDraft: true), request: try PipelineFixture.request(PipelineFixture.basicRequest),
                                           observer: RecordingObserver()).complete()
        XCTAssertEqual(answer.message["content"]?.stringValue, "the answer")
        XCTAssertEqual(answer.message["reasoning_content"]?.stringValue, "the draft")
    }

    func testSecondRoundFailureFallsBackToTheFirstRound() async throws {
        try fixture.script("primary", #"{"content":"draft"}"#)
        let request = try PipelineFixture.request(PipelineFixture.basicRequest)
        // Fail the critique from its second call on: swap the script once the first call was recorded.
        let fake = fixture.fake
        let swapper = Task {
            while fake.requests(model: "critique").isEmpty { try? await Task.sleep(for: .milliseconds(1)) }
            fake.script("critique", try! FakeScript(json: try! JSONParser.parse(#"{"status":500}"#)))
        }
        try fixture.script("critique", #"{"content":"round one","first_delay_ms":100}"#)
        let answer = try await PipelineRun(plan: try plan(rounds: 2), request: request, observer: RecordingObserver()).complete()
        await swapper.value
        XCTAssertEqual(fixture.fake.requests(model: "critique").count, 2)
        XCTAssertTrue(answer.fellBack)
        XCTAssertEqual(answer.message["content"]?.stringValue, "round one", "the best answer so far, not the draft")
    }

    func testDraftLargerThanTheBoundFailsAndStopsTheUpstream() async throws {
        // A runaway draft: ten 10-byte chunks, 200 ms apart, against a 15-byte bound.
        try fixture.script("primary", #"{"chunks":["0123456789","0123456789","0123456789","0123456789","0123456789","0123456789","0123456789","0123456789","0123456789","0123456789"],"chunk_delay_ms":200}"#)
        let start = ContinuousClock.now
        let events = await PipelineFixture.collect(PipelineRun(plan: try plan(maxDraftBytes: 15), request: try PipelineFixture.request(PipelineFixture.basicRequest).streaming,
                                                               observer: RecordingObserver()))
        XCTAssertEqual(events.summaries, ["failed(primary,502,upstream_too_large)"])
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(1), "the failure waited for the whole draft")
        XCTAssertEqual(fixture.fake.requests(model: "critique").count, 0)
        // The upstream must be told to stop (connection closed), not left generating into a buffer nobody reads.
        let fake = fixture.fake
        let stopped = await eventually(timeout: 1) { fake.stats.disconnects == 1 }
        XCTAssertTrue(stopped, "the primary kept streaming after the draft bound was hit: \(fake.stats)")
    }
}
