import FakeUpstream
import Foundation
import OpenAIWire
import XCTest
@testable import TestSupport

/// Parallel drafts merged by the critique (#17), and upstreams that retry and fail over.
final class ParallelDraftsTests: XCTestCase {
    func critiqueText(_ proxy: ProxyFixture) -> String {
        let messages = proxy.fake.requests(model: "critique").last?.body["messages"]?.arrayValue ?? []
        return messages.last?["content"]?.stringValue ?? ""
    }

    func testThreeDraftsRunAtOnceAndTheCritiqueMergesThemAll() throws {
        let proxy = try ProxyFixture(["DRAFTS": "3", "CRITIQUE_MERGE_PROMPT": "MERGE THEM"])
        defer { proxy.stop() }
        try proxy.script("primary", #"{"chunks":["d1 ","d2 ","d3 ","d4"],"chunk_delay_ms":150}"#)
        let client = try proxy.client()
        let body = ProxyFixture.chatBody(stream: true)
        try client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        XCTAssertTrue(eventually(timeout: 3) { proxy.fake.stats.active == 3 }, "the three drafts must stream from the upstream at the same time")
        let r = try client.readResponse(timeout: 10)
        XCTAssertEqual(r.status, 200)

        let drafts = proxy.fake.requests(model: "primary")
        XCTAssertEqual(drafts.count, 3)
        // One model, no client temperature: drafts after the first are sampled differently.
        XCTAssertEqual(drafts.filter { $0.body["temperature"] == nil }.count, 1, "\(drafts.map(\.body))")
        XCTAssertEqual(drafts.filter { $0.body["temperature"]?.stringValueOfNumber == "0.9" }.count, 2)

        let merge = critiqueText(proxy)
        XCTAssertTrue(merge.hasPrefix("MERGE THEM"), merge)
        for i in 1...3 { XCTAssertTrue(merge.contains("=== Draft \(i) of 3 ===\nd1 d2 d3 d4"), merge) }
        let final = r.dataObjects.last { !($0["choices"]?[0]?["finish_reason"]?.isNull ?? true) }
        XCTAssertEqual(final?["hydra"]?["drafts"]?["requested"]?.intValue, 3, r.text)
        XCTAssertEqual(final?["hydra"]?["drafts"]?["written"]?.intValue, 3, r.text)
        XCTAssertEqual(r.contentText, "Answer from critique")

        // Usage is the sum of every call: 3 drafts + the critique.
        let whole = try proxy.chat(ProxyFixture.chatBody(extra: #","hydra":{"drafts":3}"#))
        XCTAssertEqual(whole.json?["usage"]?["total_tokens"]?.intValue, 60, whole.text)
    }

    func testAClientTemperatureIsKeptForEveryDraft() throws {
        let proxy = try ProxyFixture(["DRAFTS": "2"])
        defer { proxy.stop() }
        XCTAssertEqual(try proxy.chat(ProxyFixture.chatBody(extra: #","temperature":0.2"#)).status, 200)
        XCTAssertEqual(proxy.fake.requests(model: "primary").map { $0.body["temperature"]?.stringValueOfNumber }, ["0.2", "0.2"])
    }

    func testAFailedDraftIsDroppedWhileAnotherSucceeds() throws {
        let proxy = try ProxyFixture(["DRAFTS": "3", "UPSTREAM_RETRIES": "0"])
        defer { proxy.stop() }
        try proxy.script("primary", #"{"status":500,"fail_times":1}"#)
        let r = try proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json?["hydra"]?["drafts"]?["written"]?.intValue, 2, r.text)
        let merge = critiqueText(proxy)
        XCTAssertTrue(merge.contains("=== Draft 2 of 2 ==="), merge)
        XCTAssertFalse(merge.contains("of 3"), merge)
    }

    func testWhenEveryDraftFailsTheClientGetsTheUsualError() throws {
        let proxy = try ProxyFixture(["DRAFTS": "3", "UPSTREAM_RETRIES": "0"])
        defer { proxy.stop() }
        try proxy.script("primary", #"{"status":500,"error_body":"{\"error\":{\"message\":\"no GPU\"}}"}"#)
        let r = try proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(r.status, 502, r.text)
        XCTAssertTrue(r.text.contains("no GPU"), r.text)
        XCTAssertEqual(proxy.fake.requests(model: "critique").count, 0)
    }

    func testDraftsShownAsReasoningAreLabelledAndNeverInterleaved() throws {
        let proxy = try ProxyFixture(["DRAFTS": "3", "SHOW_DRAFT": "reasoning"])
        defer { proxy.stop() }
        try proxy.script("primary", #"{"chunks":["alpha ","beta ","gamma"],"chunk_delay_ms":60}"#)
        let r = try proxy.chat(ProxyFixture.chatBody(stream: true))
        let reasoning = r.dataObjects.compactMap { $0["choices"]?[0]?["delta"]?["reasoning_content"]?.stringValue }.joined()
        for i in 1...3 {
            XCTAssertEqual(reasoning.components(separatedBy: "— draft \(i) of 3 (primary) —\n\nalpha beta gamma").count, 2,
                           "draft \(i) must appear once, labelled and whole: \(reasoning)")
        }
        XCTAssertTrue(reasoning.hasPrefix("— draft 1 of 3"), reasoning)
        XCTAssertEqual(r.contentText, "Answer from critique")
    }

    func testAToolCallDraftIsReturnedAsIs() throws {
        let proxy = try ProxyFixture(["DRAFTS": "2"])
        defer { proxy.stop() }
        try proxy.script("primary", #"{"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}"#)
        let r = try proxy.chat(ProxyFixture.chatBody())
        XCTAssertNotNil(r.json?["choices"]?[0]?["message"]?["tool_calls"]?.arrayValue, r.text)
        XCTAssertEqual(proxy.fake.requests(model: "critique").count, 0)
    }

    func testPerRequestDraftsAndTheirLimits() throws {
        let proxy = try ProxyFixture()
        defer { proxy.stop() }
        XCTAssertEqual(try proxy.chat(ProxyFixture.chatBody(extra: #","hydra":{"drafts":2}"#)).status, 200)
        XCTAssertEqual(proxy.fake.requests(model: "primary").count, 2)
        let bad = try proxy.chat(ProxyFixture.chatBody(extra: #","hydra":{"drafts":9}"#))
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(bad.json?["error"]?["param"]?.stringValue, "hydra.drafts")
        // Background tasks and critique-off requests write one draft whatever is asked.
        proxy.fake.resetAll()
        XCTAssertEqual(try proxy.chat(ProxyFixture.chatBody(extra: #","hydra":{"drafts":3,"critique":false}"#)).status, 200)
        XCTAssertEqual(proxy.fake.requests(model: "primary").count, 1)
    }

    /// A client that leaves while three drafts stream: every draft call is closed within 1 s.
    func testADisconnectDuringParallelDraftsClosesEveryDraftCall() throws {
        let proxy = try ProxyFixture(["DRAFTS": "3"])
        defer { proxy.stop() }
        try proxy.script("primary", #"{"chunks":["a","b","c","d","e","f","g","h","i","j"],"chunk_delay_ms":400}"#)
        let client = try proxy.client()
        let body = ProxyFixture.chatBody(stream: true)
        try client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        XCTAssertTrue(eventually(timeout: 5) { proxy.fake.stats.active == 3 }, "three draft streams did not start")
        let left = Date()
        client.close()
        XCTAssertTrue(eventually(timeout: 1) { proxy.fake.stats.active == 0 }, "draft calls still open 1 s after the client left")
        XCTAssertEqual(proxy.fake.stats.disconnects, 3)
        XCTAssertLessThan(Date().timeIntervalSince(left), 1.0)
        XCTAssertEqual(proxy.fake.requests(model: "critique").count, 0)
    }
}

final class UpstreamFallbackTests: XCTestCase {
    func metric(_ proxy: ProxyFixture, _ line: String) throws -> Int? {
        let text = try proxy.send("GET", "/metrics").text
        return text.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap { Int($0.split(separator: " ").last ?? "") }
    }

    func testThePrimaryFailsOverToTheNextUpstreamWhenTheFirstIsDown() throws {
        let fake = try FakeUpstream()
        fake.start()
        defer { blocking { await fake.shutdown() } }
        let dead = "http://127.0.0.1:\(closedLoopbackPort())/v1"
        let proxy = try ProxyFixture(["PRIMARY_BASE_URL": dead, "PRIMARY_FALLBACKS": "backup@\(fake.baseURL)"], fake: fake)
        defer { proxy.stop() }
        for stream in [false, true] {
            let r = try proxy.chat(ProxyFixture.chatBody(stream: stream))
            XCTAssertEqual(r.status, 200, r.text)
            XCTAssertFalse(r.text.contains("\"error\""), r.text)
        }
        XCTAssertEqual(fake.requests(model: "backup").count, 2)
        XCTAssertEqual(fake.requests(model: "critique").count, 2)
        // The first request found the primary dead; the second skipped it (cooldown) and went
        // straight to the backup, so only one failover was counted.
        XCTAssertEqual(try metric(proxy, #"hydra_upstream_fallbacks_total{stage="primary",reason="unreachable"}"#), 1)
    }

    func testA429WithRetryAfterIsAnsweredByTheSameUpstreamAfterTheWait() throws {
        let proxy = try ProxyFixture(["HEARTBEAT_SECONDS": "0.5"])
        defer { proxy.stop() }
        try proxy.script("primary", #"{"status":429,"retry_after":2,"fail_times":1}"#)
        let start = Date()
        let r = try proxy.chat(ProxyFixture.chatBody(stream: true))
        let took = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.contentText, "Answer from critique", r.text)
        XCTAssertGreaterThanOrEqual(took, 1.9, "Retry-After: 2 was not honoured")
        XCTAssertLessThan(took, 5)
        XCTAssertEqual(proxy.fake.requests(model: "primary").count, 2, "the same upstream answers the retry")
        XCTAssertTrue(r.text.contains(": keep-alive"), "the stream must keep its heartbeats while the retry waits")
        XCTAssertEqual(try metric(proxy, #"hydra_upstream_retries_total{stage="primary",reason="429"}"#), 1)
    }

    func testARetryAfterBeyondTheCapMovesOnInsteadOfWaiting() throws {
        let fake = try FakeUpstream()
        fake.start()
        defer { blocking { await fake.shutdown() } }
        let proxy = try ProxyFixture(["UPSTREAM_RETRY_MAX_WAIT_SECONDS": "1", "PRIMARY_FALLBACKS": "backup@\(fake.baseURL)"], fake: fake)
        defer { proxy.stop() }
        try proxy.script("primary", #"{"status":429,"retry_after":30}"#)
        let start = Date()
        let r = try proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "a 30 s Retry-After must not be waited for past the 1 s cap")
        XCTAssertEqual(fake.requests(model: "primary").count, 1)
        XCTAssertEqual(fake.requests(model: "backup").count, 1)
        XCTAssertEqual(try metric(proxy, #"hydra_upstream_fallbacks_total{stage="primary",reason="429"}"#), 1)
    }

    func testOther4xxAreNeitherRetriedNorFailedOver() throws {
        let fake = try FakeUpstream()
        fake.start()
        defer { blocking { await fake.shutdown() } }
        let proxy = try ProxyFixture(["PRIMARY_FALLBACKS": "backup@\(fake.baseURL)"], fake: fake)
        defer { proxy.stop() }
        try proxy.script("primary", #"{"status":400,"error_body":"{\"error\":{\"message\":\"bad parameter\"}}"}"#)
        let r = try proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(r.status, 400, r.text)
        XCTAssertEqual(fake.requests(model: "primary").count, 1)
        XCTAssertEqual(fake.requests(model: "backup").count, 0)
    }

    func testTheCritiqueFailsOverOn5xxAndTheAnswerIsStillCritiqued() throws {
        let fake = try FakeUpstream()
        fake.start()
        defer { blocking { await fake.shutdown() } }
        let proxy = try ProxyFixture(["UPSTREAM_RETRIES": "0", "CRITIQUE_FALLBACKS": "critique-b@\(fake.baseURL)"], fake: fake)
        defer { proxy.stop() }
        try proxy.script("critique", #"{"status":503}"#)
        for stream in [false, true] {
            let r = try proxy.chat(ProxyFixture.chatBody(stream: stream))
            XCTAssertEqual(r.status, 200, r.text)
            let answer = stream ? r.contentText : r.json?["choices"]?[0]?["message"]?["content"]?.stringValue
            XCTAssertEqual(answer, "Answer from critique-b", r.text)
            XCTAssertFalse(r.text.contains(#""critique":"fallback""#), "the alternative critique answered: \(r.text)")
        }
        XCTAssertEqual(fake.requests(model: "critique-b").count, 2)
    }

    /// Once a stream has begun, its bytes may be the client's: a cut stream is not sent again.
    func testAStreamCutAfterItBeganIsNotFailedOver() throws {
        let fake = try FakeUpstream()
        fake.start()
        defer { blocking { await fake.shutdown() } }
        let proxy = try ProxyFixture(["CRITIQUE_MODEL_NAME": "", "PRIMARY_FALLBACKS": "backup@\(fake.baseURL)"], fake: fake)
        defer { proxy.stop() }
        try proxy.script("primary", #"{"chunks":["one ","two ","three ","four"],"reset":"mid_stream"}"#)
        let r = try proxy.chat(ProxyFixture.chatBody(stream: true))
        XCTAssertTrue(r.text.contains("\"error\""), r.text)
        XCTAssertEqual(fake.requests(model: "backup").count, 0)
    }
}

extension JSONValue {
    /// A number's text as written (`0.9`), for comparing sampling parameters.
    var stringValueOfNumber: String? {
        if case .number(let text) = self { return text }
        return nil
    }
}
