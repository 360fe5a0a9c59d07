import FakeUpstream
import Foundation
import OpenAIWire
import XCTest
@testable import TestSupport

/// Behaviour an orchestrator (Kubernetes) relies on, against the real process: readiness that
/// turns 503 on SIGTERM and when the queue is full, and configuration that reloads itself when a
/// mounted ConfigMap is swapped the way the kubelet swaps it.
final class OrchestrationTests: XCTestCase {
    func slowFake(chunks: Int, delayMs: Int) throws -> FakeUpstream {
        let fake = try FakeUpstream()
        fake.start()
        let list = (0..<chunks).map { "\"c\($0) \"" }.joined(separator: ",")
        fake.script("slow", try FakeScript(json: try JSONParser.parse(#"{"chunks":[\#(list)],"chunk_delay_ms":\#(delayMs)}"#)))
        return fake
    }

    func startStream(_ proxy: ProxyProcess) throws -> RawClient {
        let client = try proxy.client()
        let body = ProxyFixture.chatBody(stream: true)
        try client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        return client
    }

    func testReadinessTurns503AtSIGTERMWhileAStreamFinishesThenExitsZero() throws {
        let fake = try slowFake(chunks: 8, delayMs: 250)
        defer { blocking { await fake.shutdown() } }
        let proxy = try ProxyProcess(environment: ["OPENAI_BASE_URL": fake.baseURL, "PRIMARY_MODEL_NAME": "slow", "LOG_LEVEL": "INFO"])
        let ready = try proxy.send("GET", "/health/ready")
        XCTAssertEqual(ready.status, 200, ready.text)
        XCTAssertTrue(ready.text.contains(#""ready""#), ready.text)
        XCTAssertEqual(try proxy.send("GET", "/v1/health/ready").status, 200)

        let stream = try startStream(proxy)
        XCTAssertTrue(eventually(timeout: 5) { fake.stats.active == 1 }, "the stream did not reach the upstream")
        kill(proxy.process.processIdentifier, SIGTERM)
        // From the moment SIGTERM arrives: not ready, still alive, still listening.
        var draining: RawResponse?
        XCTAssertTrue(eventually(timeout: 1) {
            draining = try? proxy.send("GET", "/health/ready")
            return draining?.status == 503
        }, "readiness did not turn 503 within 1 s of SIGTERM: \(String(describing: draining?.text))")
        XCTAssertTrue(draining?.text.contains(#""draining""#) ?? false, draining?.text ?? "")
        XCTAssertEqual(try proxy.send("GET", "/health").status, 200, "liveness must stay 200 while draining")

        // The stream that was running finishes whole.
        let answer = try stream.readResponse(timeout: 10)
        XCTAssertEqual(answer.status, 200)
        for i in 0..<8 { XCTAssertTrue(answer.text.contains("c\(i) "), "chunk \(i) missing: \(answer.text)") }
        XCTAssertTrue(answer.text.contains("data: [DONE]"), answer.text)
        XCTAssertEqual(proxy.stop(), 0, "the drain must end with exit 0")
        XCTAssertTrue(proxy.log.contains("/health/ready now answers 503"), proxy.log)
    }

    func testReadinessIs503WhileTheAdmissionQueueIsFull() throws {
        let fake = try slowFake(chunks: 6, delayMs: 200)
        defer { blocking { await fake.shutdown() } }
        let proxy = try ProxyProcess(environment: ["OPENAI_BASE_URL": fake.baseURL, "PRIMARY_MODEL_NAME": "slow",
                                                   "MAX_CONCURRENT_REQUESTS": "1", "MAX_QUEUED_REQUESTS": "0"])
        defer { _ = proxy.stop() }
        XCTAssertEqual(try proxy.send("GET", "/health/ready").status, 200)
        let stream = try startStream(proxy)
        XCTAssertTrue(eventually(timeout: 5) { fake.stats.active == 1 })
        let full = try proxy.send("GET", "/health/ready")
        XCTAssertEqual(full.status, 503, full.text)
        XCTAssertTrue(full.text.contains(#""saturated""#), full.text)
        _ = try stream.readResponse(timeout: 10)
        XCTAssertTrue(eventually(timeout: 3) { (try? proxy.send("GET", "/health/ready").status) == 200 },
                      "readiness did not come back once the queue emptied")
    }

    /// The kubelet's layout: `.env -> ..data/.env`, `..data -> ..<timestamp>/`; an update writes a
    /// new timestamped folder and renames a new `..data` link over the old one (atomic).
    final class KubeletVolume {
        let root: URL
        private var generation = 0

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("hydra-configmap-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        }

        deinit { try? FileManager.default.removeItem(at: root) }

        var envFile: String { root.appendingPathComponent(".env").path }

        func publish(_ env: String) throws {
            generation += 1
            let folder = "..2026_12_02_00_00_0\(generation).000\(generation)"
            let dir = root.appendingPathComponent(folder)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try env.write(to: dir.appendingPathComponent(".env"), atomically: false, encoding: .utf8)
            let tmp = root.appendingPathComponent("..data_tmp").path
            try? FileManager.default.removeItem(atPath: tmp)
            XCTAssertEqual(symlink(folder, tmp), 0)
            XCTAssertEqual(rename(tmp, root.appendingPathComponent("..data").path), 0)
            if !FileManager.default.fileExists(atPath: envFile) {
                XCTAssertEqual(symlink("..data/.env", envFile), 0)
            }
        }
    }

    func testConfigWatchFollowsAKubeletSymlinkSwapAndKeepsTheOldConfigOnABadFile() throws {
        let fake = try FakeUpstream()
        fake.start()
        defer { blocking { await fake.shutdown() } }
        fake.script("primary-a", try FakeScript(json: try JSONParser.parse(#"{"chunks":["a1 ","a2 ","a3 ","a4 "],"chunk_delay_ms":300}"#)))
        let volume = try KubeletVolume()
        try volume.publish("OPENAI_BASE_URL=\(fake.baseURL)\nPRIMARY_MODEL_NAME=primary-a\nCRITIQUE_MODEL_NAME=critique-a\n")
        let proxy = try ProxyProcess(environment: ["ENV_FILE": volume.envFile, "CONFIG_WATCH_SECONDS": "0.2", "LOG_LEVEL": "INFO"])
        defer { _ = proxy.stop() }
        XCTAssertEqual(try proxy.send("POST", "/v1/chat/completions", body: ProxyFixture.chatBody()).status, 200)
        XCTAssertEqual(fake.requests(model: "critique-a").count, 1)

        // A request in flight across the swap keeps its snapshot: its critique still goes to -a.
        let inFlight = try startStream(proxy)
        XCTAssertTrue(eventually(timeout: 5) { fake.stats.active == 1 })
        try volume.publish("OPENAI_BASE_URL=\(fake.baseURL)\nPRIMARY_MODEL_NAME=primary-b\nCRITIQUE_MODEL_NAME=critique-b\n")
        XCTAssertTrue(eventually(timeout: 5) { proxy.log.contains("configuration changed on disk, reloaded") }, proxy.log)
        XCTAssertEqual(try inFlight.readResponse(timeout: 10).status, 200)
        XCTAssertEqual(fake.requests(model: "critique-a").count, 2, "the in-flight request lost its snapshot")
        XCTAssertEqual(fake.requests(model: "critique-b").count, 0)
        XCTAssertEqual(try proxy.send("POST", "/v1/chat/completions", body: ProxyFixture.chatBody()).status, 200)
        XCTAssertEqual(fake.requests(model: "primary-b").count, 1, "a new request must use the new file")
        XCTAssertEqual(fake.requests(model: "critique-b").count, 1)

        // A bad file: the previous configuration stays, the log says why (once).
        try volume.publish("OPENAI_BASE_URL=\(fake.baseURL)\nPRIMARY_MODEL_NAME=primary-c\nHEARTBEAT_SECONDS=0\n")
        XCTAssertTrue(eventually(timeout: 5) { proxy.log.contains("invalid, keeping the previous one") }, proxy.log)
        XCTAssertTrue(proxy.log.contains("HEARTBEAT_SECONDS"), proxy.log)
        usleep(600_000)
        XCTAssertEqual(proxy.log.components(separatedBy: "invalid, keeping the previous one").count - 1, 1, "reported on every poll: \(proxy.log)")
        XCTAssertEqual(try proxy.send("POST", "/v1/chat/completions", body: ProxyFixture.chatBody()).status, 200)
        XCTAssertEqual(fake.requests(model: "primary-b").count, 2)
        XCTAssertEqual(fake.requests(model: "primary-c").count, 0)
    }

    func testStartUpWarnsWhenThePrimaryIsUnreachableAndTheErrorNamesTheURL() throws {
        let port = closedLoopbackPort()
        let proxy = try ProxyProcess(environment: ["OPENAI_BASE_URL": "http://127.0.0.1:\(port)/v1", "PRIMARY_MODEL_NAME": "m",
                                                   "CRITIQUE_MODEL_NAME": "c", "LOG_LEVEL": "INFO"])
        defer { _ = proxy.stop() }
        XCTAssertTrue(eventually(timeout: 5) { proxy.log.contains("is not answering") }, proxy.log)
        let line = proxy.log.split(separator: "\n").first { $0.contains("is not answering") } ?? ""
        XCTAssertTrue(line.contains("WARNING") && line.contains("http://127.0.0.1:\(port)/v1/models") && line.contains("check-config"), String(line))
        let r = try proxy.send("POST", "/v1/chat/completions", body: ProxyFixture.chatBody())
        XCTAssertEqual(r.status, 502)
        XCTAssertTrue(r.text.contains("127.0.0.1:\(port)"), "the 502 must name the URL it tried: \(r.text)")
        XCTAssertTrue(eventually(timeout: 2) { proxy.log.contains("done status=502") }, proxy.log)
        let done = proxy.log.split(separator: "\n").first { $0.contains("done status=502") } ?? ""
        XCTAssertTrue(done.contains("critique=not run (primary failed)") && !done.contains("critique=applied"), String(done))
    }
}
