import FakeUpstream
import OpenAIWire
import Pipeline
import Upstream
import XCTest
@testable import TestSupport

/// Streamed and JSON answers come from one critique loop: they agree, and the run can say where
/// it is and what it spent.
final class PipelineOneLoopTests: XCTestCase {
    var fixture: PipelineFixture!

    override func setUpWithError() throws { fixture = try PipelineFixture() }
    override func tearDown() async throws { await fixture.shutdown() }

    /// Both shapes of one run: the JSON answer's finish reason and the stream's finish event.
    func finishReasons(_ plan: PipelinePlan) async throws -> (json: String?, stream: String?) {
        let request = try PipelineFixture.request(PipelineFixture.basicRequest)
        let answer = try await PipelineRun(plan: plan, request: request, observer: RecordingObserver()).complete()
        let events = await PipelineFixture.collect(PipelineRun(plan: plan, request: request.streaming, observer: RecordingObserver()))
        var streamed: String?
        for case .finish(let reason) in events { streamed = reason }
        XCTAssertTrue(answer.fellBack)
        XCTAssertTrue(events.contains { if case .fellBack = $0 { return true }; return false }, events.summaries.description)
        return (answer.finishReason, streamed)
    }

    func testFallbackReportsTheFinishReasonOfTheDeliveredDraftInBothModes() async throws {
        try fixture.script("primary", #"{"content":"a long draft","finish_reason":"length"}"#)
        try fixture.script("critique", #"{"status":500}"#)
        let reasons = try await finishReasons(try fixture.plan())
        XCTAssertEqual(reasons.json, "length")
        XCTAssertEqual(reasons.stream, "length")
    }

    func testSecondRoundFallbackReportsTheFirstRoundsFinishInBothModes() async throws {
        var plan = try fixture.plan()
        plan.rounds = 2
        for streamed in [false, true] {
            fixture.fake.resetAll()
            try fixture.script("primary", #"{"content":"draft","finish_reason":"length"}"#)
            try fixture.script("critique", #"{"content":"round one","finish_reason":"stop","first_delay_ms":100}"#)
            let fake = fixture.fake
            let swapper = Task {
                while fake.requests(model: "critique").isEmpty { try? await Task.sleep(for: .milliseconds(1)) }
                fake.script("critique", try! FakeScript(json: try! JSONParser.parse(#"{"status":500}"#)))
            }
            let request = try PipelineFixture.request(PipelineFixture.basicRequest)
            let finish: String?
            if streamed {
                let events = await PipelineFixture.collect(PipelineRun(plan: plan, request: request.streaming, observer: RecordingObserver()))
                XCTAssertEqual(events.text, "round one", events.summaries.description)
                var last: String?
                for case .finish(let reason) in events { last = reason }
                finish = last
            } else {
                let answer = try await PipelineRun(plan: plan, request: request, observer: RecordingObserver()).complete()
                XCTAssertEqual(answer.message["content"]?.stringValue, "round one")
                finish = answer.finishReason
            }
            await swapper.value
            XCTAssertEqual(finish, "stop", "the delivered text is round one's (streamed: \(streamed))")
        }
    }

    func testTheRunKnowsWhereItIsAndWhatItSpent() async throws {
        try fixture.script("primary", #"{"content":"<think>x</think>the draft"}"#)
        try fixture.script("critique", #"{"content":"the answer"}"#)
        let run = PipelineRun(plan: try fixture.plan(), request: try PipelineFixture.request(PipelineFixture.basicRequest), observer: RecordingObserver())
        let before = await run.phase
        XCTAssertEqual(before, .starting)
        _ = try await run.complete()
        let (phase, usage, draft, sent) = await (run.phase, run.usage, run.draft, run.contentSent)
        XCTAssertEqual(phase, .finished)
        XCTAssertEqual(usage, Usage(promptTokens: 20, completionTokens: 10, totalTokens: 30), "both stages")
        XCTAssertEqual(draft, "the draft")
        XCTAssertTrue(sent)

        try fixture.script("primary", #"{"status":500}"#)
        let failing = PipelineRun(plan: try fixture.plan(), request: try PipelineFixture.request(PipelineFixture.basicRequest).streaming,
                                  observer: RecordingObserver())
        _ = await PipelineFixture.collect(failing)
        let failedPhase = await failing.phase
        XCTAssertEqual(failedPhase, .failed)
        let failedSent = await failing.contentSent
        XCTAssertFalse(failedSent)
    }
}
