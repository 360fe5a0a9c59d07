import FakeUpstream
import OpenAIWire
import Pipeline
import Upstream
import XCTest
@testable import TestSupport

/// A client that goes away stops the upstream work: the fake sees its connection close.
final class PipelineCancellationTests: XCTestCase {
    var fixture: PipelineFixture!

    override func setUpWithError() throws { fixture = try PipelineFixture() }
    override func tearDown() async throws { await fixture.shutdown() }

    static let slowChunks = #"{"chunks":["1 ","2 ","3 ","4 ","5 ","6 ","7 ","8 ","9 ","10"],"chunk_delay_ms":300}"#

    /// Starts consuming, waits until the fake is streaming to us, cancels, and measures how long
    /// the fake takes to notice.
    func cancelWhileStreaming(critique: Bool, file: StaticString = #filePath, line: UInt = #line) async throws {
        let run = PipelineRun(plan: try fixture.plan(critique: critique),
                              request: try PipelineFixture.request(PipelineFixture.basicRequest).streaming, observer: RecordingObserver())
        let received = Locked(0)
        let consumer = Task {
            for await _ in run.events() { received.update { $0 += 1 } }
        }
        let fake = fixture.fake
        let streaming = await eventually(timeout: 5) { fake.stats.active == 1 }
        XCTAssertTrue(streaming, "the fake never started streaming", file: file, line: line)
        try await Task.sleep(for: .milliseconds(400))
        let completedBefore = fake.stats.completed
        let cancelledAt = ContinuousClock.now
        consumer.cancel()
        let noticed = await eventually(timeout: 1.5) { fake.stats.disconnects == 1 }
        XCTAssertTrue(noticed, "the upstream never saw the disconnect: \(fake.stats)", file: file, line: line)
        XCTAssertLessThan(ContinuousClock.now - cancelledAt, .seconds(1), file: file, line: line)
        XCTAssertEqual(fake.stats.completed, completedBefore, "the cancelled stream ran to its end", file: file, line: line)
        await consumer.value
    }

    func testCancellingDuringThePrimaryClosesIt() async throws {
        try fixture.script("primary", Self.slowChunks)
        try await cancelWhileStreaming(critique: true)
        XCTAssertEqual(fixture.fake.requests(model: "critique").count, 0, "no critique for a client that left")
    }

    func testCancellingDuringTheCritiqueClosesIt() async throws {
        try fixture.script("critique", Self.slowChunks)
        try await cancelWhileStreaming(critique: true)
        XCTAssertEqual(fixture.fake.requests(model: "critique").count, 1)
    }

    func testCancellingARelayedPrimaryClosesIt() async throws {
        try fixture.script("primary", Self.slowChunks)
        try await cancelWhileStreaming(critique: false)
    }

    func testCancellingANonStreamedRunClosesTheUpstream() async throws {
        try fixture.script("primary", #"{"hang":true}"#)
        let run = PipelineRun(plan: try fixture.plan(), request: try PipelineFixture.request(PipelineFixture.basicRequest), observer: RecordingObserver())
        let task = Task { () -> String in
            switch await run.result() {
            case .success: return "succeeded"
            case .failure(let error): return error.upstream.kind
            }
        }
        let fake = fixture.fake
        let started = await eventually(timeout: 5) { fake.stats.requests == 1 }
        XCTAssertTrue(started)
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let noticed = await eventually(timeout: 1.5) { fake.stats.disconnects == 1 }
        XCTAssertTrue(noticed, "a cancelled non-streamed call kept the upstream busy: \(fake.stats)")
        let outcome = await task.value
        XCTAssertEqual(outcome, "cancelled")
    }
}
