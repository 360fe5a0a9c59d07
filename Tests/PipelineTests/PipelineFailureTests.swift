import FakeUpstream
import OpenAIWire
import Pipeline
import Upstream
import XCTest
@testable import TestSupport

/// Every way a primary can fail maps to one error with the right status, streamed or not.
final class PipelineFailureTests: XCTestCase {
    var fixture: PipelineFixture!

    override func setUpWithError() throws { fixture = try PipelineFixture() }
    override func tearDown() async throws { await fixture.shutdown() }

    struct Expectation {
        var kind: String
        var status: Int
        var code: String
    }

    /// Runs the primary (critique on, so a failure is never hidden by relayed text) both ways.
    func assertPrimaryFails(_ script: String, _ expected: Expectation, streamed streamExpected: Expectation? = nil, idleTimeout: Duration = .seconds(10),
                            primaryBaseURL: String? = nil, file: StaticString = #filePath, line: UInt = #line) async throws {
        let streamExpected = streamExpected ?? expected
        try fixture.script("primary", script)
        let plan = try fixture.plan(idleTimeout: idleTimeout, primaryBaseURL: primaryBaseURL)
        let request = try PipelineFixture.request(PipelineFixture.basicRequest)
        switch await PipelineRun(plan: plan, request: request, observer: RecordingObserver()).result() {
        case .success:
            XCTFail("non-streamed run succeeded", file: file, line: line)
        case .failure(let error):
            XCTAssertEqual(error.stage, .primary, file: file, line: line)
            XCTAssertEqual(error.upstream.kind, expected.kind, "non-stream: \(error.upstream)", file: file, line: line)
            XCTAssertEqual(error.openAI.status, expected.status, "non-stream", file: file, line: line)
            XCTAssertEqual(error.openAI.code, expected.code, "non-stream", file: file, line: line)
            XCTAssertTrue(error.openAI.message.contains("primary"), error.openAI.message, file: file, line: line)
        }
        let streamed = await PipelineFixture.collect(PipelineRun(plan: plan, request: request.streaming, observer: RecordingObserver()))
        let failure = streamed.failure
        XCTAssertNotNil(failure, "stream: \(streamed.summaries)", file: file, line: line)
        XCTAssertEqual(failure?.stage, .primary, file: file, line: line)
        XCTAssertEqual(failure?.upstream.kind, streamExpected.kind, "stream: \(String(describing: failure?.upstream))", file: file, line: line)
        XCTAssertEqual(failure?.openAI.status, streamExpected.status, "stream", file: file, line: line)
        XCTAssertEqual(failure?.openAI.code, streamExpected.code, "stream", file: file, line: line)
        XCTAssertEqual(streamed.summaries.last, failure.map { PipelineEvent.failed($0).summary }, "the error ends the stream", file: file, line: line)
        XCTAssertEqual(fixture.fake.requests(model: "critique").count, 0, "no critique after a failed primary", file: file, line: line)
    }

    func testUnreachable() async throws {
        try await assertPrimaryFails("{}", .init(kind: "unreachable", status: 502, code: "upstream_unreachable"),
                                     primaryBaseURL: "http://127.0.0.1:\(closedLoopbackPort())/v1")
    }

    func testClientErrorsKeepTheirStatus() async throws {
        try await assertPrimaryFails(#"{"status":400,"error_body":"{\"error\":{\"message\":\"context length exceeded\"}}"}"#,
                                     .init(kind: "status_4xx", status: 400, code: "upstream_400"))
        try await assertPrimaryFails(#"{"status":404}"#, .init(kind: "status_4xx", status: 404, code: "upstream_404"))
        try await assertPrimaryFails(#"{"status":429}"#, .init(kind: "status_4xx", status: 429, code: "upstream_429"))
    }

    func testServerErrorsAre502() async throws {
        try await assertPrimaryFails(#"{"status":500,"content_type":"text/plain","error_body":"Internal Server Error"}"#,
                                     .init(kind: "status_5xx", status: 502, code: "upstream_error"))
        try await assertPrimaryFails(#"{"status":503}"#, .init(kind: "status_5xx", status: 502, code: "upstream_error"))
    }

    func testTimeoutIs504() async throws {
        let start = ContinuousClock.now
        try await assertPrimaryFails(#"{"hang":true}"#, .init(kind: "timeout", status: 504, code: "upstream_timeout"), idleTimeout: .milliseconds(600))
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "two runs with a 0.6 s idle timeout")
    }

    func testMalformedJSONIs502() async throws {
        // Streamed, the same bytes are an event stream that ends mid-event.
        try await assertPrimaryFails(#"{"raw_body":"this is not json"}"#, .init(kind: "malformed", status: 502, code: "upstream_malformed"),
                                     streamed: .init(kind: "truncated", status: 502, code: "upstream_truncated"))
        try await assertPrimaryFails(#"{"raw_body":"{\"choices\":[]}","content_type":"application/json"}"#,
                                     .init(kind: "malformed", status: 502, code: "upstream_malformed"))
    }

    func testMalformedEventIs502() async throws {
        try fixture.script("primary", #"{"raw_body":"data: {broken\n\n","content_type":"text/event-stream"}"#)
        let events = await PipelineFixture.collect(PipelineRun(plan: try fixture.plan(),
                                                               request: try PipelineFixture.request(PipelineFixture.basicRequest).streaming,
                                                               observer: RecordingObserver()))
        XCTAssertEqual(events.summaries, ["failed(primary,502,upstream_malformed)"])
    }

    func testEmptyStreamIsTruncated() async throws {
        try fixture.script("primary", #"{"empty_stream":true}"#)
        let events = await PipelineFixture.collect(PipelineRun(plan: try fixture.plan(critique: false),
                                                               request: try PipelineFixture.request(PipelineFixture.basicRequest).streaming,
                                                               observer: RecordingObserver()))
        XCTAssertEqual(events.summaries, ["failed(primary,502,upstream_truncated)"], "an empty 200 must not pass as an empty answer")
    }

    func testStreamWithoutFinishOrDoneIsTruncated() async throws {
        let chunk = #"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"},\"finish_reason\":null}]}\n\n"#
        try fixture.script("primary", #"{"raw_body":"\#(chunk)","content_type":"text/event-stream"}"#)
        let events = await PipelineFixture.collect(PipelineRun(plan: try fixture.plan(critique: false),
                                                               request: try PipelineFixture.request(PipelineFixture.basicRequest).streaming,
                                                               observer: RecordingObserver()))
        XCTAssertEqual(events.summaries, ["content(partial)", "failed(primary,502,upstream_truncated)"])
    }

    func testResetMidStreamIsTruncated() async throws {
        try fixture.script("primary", #"{"chunks":["a","b","c","d"],"reset":"mid_stream"}"#)
        let events = await PipelineFixture.collect(PipelineRun(plan: try fixture.plan(critique: false),
                                                               request: try PipelineFixture.request(PipelineFixture.basicRequest).streaming,
                                                               observer: RecordingObserver()))
        XCTAssertEqual(events.summaries.last, "failed(primary,502,upstream_truncated)", "\(events.summaries)")
        XCTAssertFalse(events.summaries.contains { $0.hasPrefix("finish") })
    }

    func testResetBeforeHeadersIsUnreachable() async throws {
        try await assertPrimaryFails(#"{"reset":"before_headers"}"#, .init(kind: "unreachable", status: 502, code: "upstream_unreachable"))
    }

    func testErrorEventInsideA200StreamIs502() async throws {
        try fixture.script("primary", #"{"raw_body":"data: {\"error\":{\"message\":\"model crashed\"}}\n\n","content_type":"text/event-stream"}"#)
        let events = await PipelineFixture.collect(PipelineRun(plan: try fixture.plan(),
                                                               request: try PipelineFixture.request(PipelineFixture.basicRequest).streaming,
                                                               observer: RecordingObserver()))
        XCTAssertEqual(events.summaries, ["failed(primary,502,upstream_error)"])
        XCTAssertTrue(events.failure?.openAI.message.contains("model crashed") ?? false)
    }
}

extension ChatRequest {
    /// The same request with `"stream": true`.
    var streaming: ChatRequest {
        var body = self.body
        body["stream"] = .bool(true)
        return try! ChatRequest(validating: body)
    }
}
