import FakeUpstream
import Foundation
import XCTest
@testable import TestSupport

/// Keys never leak (logs at DEBUG, error bodies, metrics); SIGHUP reloads `.env` and a bad file
/// keeps the running configuration.
final class SecretsAndReloadTests: XCTestCase {
    let upstreamKey = "sk-upstream-secret-4242424242"
    let proxyKey = "proxy-secret-7777777"

    func testNoSecretInLogsErrorBodiesOrMetrics() throws {
        let fake = try FakeUpstream()
        fake.start()
        defer { blocking { await fake.shutdown() } }
        // An upstream that echoes the credential it was given, as some do in their 401s.
        fake.script("primary", {
            var s = FakeScript()
            s.status = 401
            s.errorBody = #"{"error":{"message":"Incorrect API key provided: \#(upstreamKey). Bearer \#(upstreamKey)","type":"invalid_request_error"}}"#
            return s
        }())
        let proxy = try ProxyProcess(environment: ["OPENAI_BASE_URL": fake.baseURL, "OPENAI_API_KEY": upstreamKey,
                                                   "PROXY_API_KEY": proxyKey, "PRIMARY_MODEL_NAME": "primary",
                                                   "CRITIQUE_MODEL_NAME": "critique", "LOG_LEVEL": "DEBUG"])
        let auth = [("Authorization", "Bearer \(proxyKey)")]
        let refused = try proxy.send("POST", "/v1/chat/completions", headers: auth, body: ProxyFixture.chatBody())
        XCTAssertEqual(refused.status, 401)
        XCTAssertTrue(refused.text.contains("Incorrect API key provided"), refused.text)
        XCTAssertEqual(fake.requests.first?.headers["authorization"], "Bearer \(upstreamKey)", "the upstream gets its own key")
        let wrong = try proxy.send("GET", "/v1/models", headers: [("Authorization", "Bearer not-\(proxyKey)")])
        XCTAssertEqual(wrong.status, 401)
        let metrics = try proxy.send("GET", "/metrics", headers: auth)
        XCTAssertEqual(metrics.status, 200)
        XCTAssertEqual(proxy.stop(), 0)

        for (place, text) in [("error body", refused.text), ("401 body", wrong.text), ("metrics", metrics.text), ("log", proxy.log)] {
            XCTAssertFalse(text.contains(upstreamKey), "upstream key in the \(place): \(text)")
            XCTAssertFalse(text.contains(proxyKey), "proxy key in the \(place): \(text)")
        }
        XCTAssertTrue(proxy.log.contains("prompt:"), "DEBUG logging was really on")
    }

    func testSIGHUPReloadsAndABadFileKeepsTheRunningConfiguration() throws {
        let dir = NSTemporaryDirectory() + "hydra-reload-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let envFile = dir + "/.env"
        func write(_ text: String) throws { try text.write(toFile: envFile, atomically: true, encoding: .utf8) }
        try write("PRIMARY_MODEL_NAME=primary\nPROXY_MODEL_NAME=first-name\n")
        let proxy = try ProxyProcess(environment: ["ENV_FILE": envFile, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"])
        defer { _ = proxy.stop() }
        func modelIDs() throws -> String { try proxy.send("GET", "/v1/models").text }
        XCTAssertTrue(try modelIDs().contains("\"first-name\""))

        try write("PRIMARY_MODEL_NAME=primary\nPROXY_MODEL_NAME=second-name\n")
        kill(proxy.process.processIdentifier, SIGHUP)
        XCTAssertTrue(eventually(timeout: 5) { (try? modelIDs().contains("\"second-name\"")) == true }, "SIGHUP did not reload .env")

        try write("PRIMARY_MODEL_NAME=primary\nPROXY_MODEL_NAME=third-name\nCRITIQUE_FAILURE=sometimes\n")
        kill(proxy.process.processIdentifier, SIGHUP)
        XCTAssertTrue(eventually(timeout: 5) { proxy.log.contains("reload failed") }, proxy.log)
        XCTAssertTrue(proxy.log.contains("CRITIQUE_FAILURE"), "the log says exactly why: \(proxy.log)")
        XCTAssertTrue(try modelIDs().contains("\"second-name\""), "a bad file keeps the previous configuration")
        XCTAssertTrue(proxy.process.isRunning)
    }
}
