import FakeUpstream
import Foundation
import OpenAIWire
import XCTest
@testable import TestSupport

/// The proxy with https upstreams, configured as a user would (`CRITIQUE_BASE_URL=https://…`,
/// `UPSTREAM_CA_FILE`, `UPSTREAM_TLS_VERIFY`, `HTTPS_PROXY`), against TLS fronts with certificates
/// generated at test time. The hang of issue #15: a critique upstream that resets an https
/// connection before answering must fall back to the draft at once, not wait for a timeout.
final class HTTPSUpstreamTests: XCTestCase {
    var certificates: TestCertificates!
    private var stops: [() -> Void] = []

    override func setUpWithError() throws { certificates = try TestCertificates.shared() }
    override func tearDown() {
        for stop in stops.reversed() { stop() }
        stops = []
    }

    static let draft = "Answer from primary"

    /// A raw scripted upstream behind a TLS front (certificate for localhost by the test CA).
    func httpsRaw(_ handler: @escaping @Sendable (RawUpstreamConnection) -> Void) throws -> (RawUpstream, TLSFront) {
        let raw = try RawUpstream(handler)
        let front = try TLSFront(backendPort: raw.port, certificate: certificates.server.certificate, privateKey: certificates.server.privateKey)
        stops.append { front.close(); raw.stop() }
        return (raw, front)
    }

    func proxy(_ environment: [String: String], fake: FakeUpstream? = nil) throws -> ProxyFixture {
        let proxy = try ProxyFixture(environment, fake: fake)
        stops.append { proxy.stop() }
        return proxy
    }

    func content(_ r: RawResponse, stream: Bool) -> String? {
        if !stream { return r.json?["choices"]?[0]?["message"]?["content"]?.stringValue }
        return r.dataObjects.compactMap { $0["choices"]?[0]?["delta"]?["content"]?.stringValue }.joined()
    }

    func critiqueVerdict(_ r: RawResponse, stream: Bool) -> String? {
        if !stream { return r.header("X-Hydra-Critique") }
        return r.dataObjects.compactMap { $0["hydra"]?["critique"]?.stringValue }.last
    }

    /// Asks, and asserts the draft came back as a fallback within 1 s of the request's start.
    func assertFallsBackAtOnce(_ proxy: ProxyFixture, stream: Bool, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let start = ContinuousClock.now
        let r = try proxy.chat(ProxyFixture.chatBody(stream: stream), timeout: 15)
        let elapsed = ContinuousClock.now - start
        XCTAssertEqual(r.status, 200, r.text, file: file, line: line)
        XCTAssertEqual(content(r, stream: stream), Self.draft, r.text, file: file, line: line)
        XCTAssertEqual(critiqueVerdict(r, stream: stream), "fallback", r.text, file: file, line: line)
        if stream { XCTAssertEqual(r.events.last, "[DONE]", r.text, file: file, line: line) }
        XCTAssertLessThan(elapsed, .seconds(1), "\(label) stream=\(stream): the fallback took \(elapsed)", file: file, line: line)
    }

    /// The critique upstream (https) resets every connection right after reading the request.
    func testACritiqueResetBeforeHeadersOverHTTPSFallsBackAtOnce() throws {
        let (raw, front) = try httpsRaw { connection in
            connection.readRequest()
            connection.reset()
        }
        let proxy = try proxy(["CRITIQUE_BASE_URL": "https://localhost:\(front.port)/v1", "UPSTREAM_CA_FILE": certificates.ca,
                               "UPSTREAM_TIMEOUT_SECONDS": "30"])
        // The first request of a fresh proxy pays one-time costs (about 0.1 s over plain http
        // too, several times that on a loaded box): it must fall back, but is not timed.
        let first = try proxy.chat(ProxyFixture.chatBody(), timeout: 15)
        XCTAssertEqual(content(first, stream: false), Self.draft, first.text)
        for stream in [false, true] {
            try assertFallsBackAtOnce(proxy, stream: stream, "reset on a fresh connection")
        }
        XCTAssertEqual(raw.connectionsAccepted, 3, "each critique call reached the upstream over TLS once (no retry on a fresh connection)")
        XCTAssertEqual(front.handshakes, 3)
    }

    /// The case that hung with URLSession: the critique upstream answers on a connection, which
    /// the proxy pools, then resets it (and every new one) when the next request arrives.
    func testACritiqueResetOnAReusedHTTPSConnectionFallsBackAtOnce() throws {
        let resetting = Locked(false)
        let resetsOnReusedConnections = Locked(0)
        let (_, front) = try httpsRaw { connection in
            var served = 0
            while let (_, body) = connection.readRequest() {
                if resetting.value {
                    if served > 0 { resetsOnReusedConnections.update { $0 += 1 } }
                    connection.reset()
                    return
                }
                let stream = (try? JSONParser.parse(body))?["stream"]?.boolValue ?? false
                if stream {
                    var events = chunkEvent(delta: #"{"role":"assistant","content":"refined"}"#)
                    events += chunkEvent(delta: "{}", finish: "stop") + "data: [DONE]\n\n"
                    connection.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: \(events.utf8.count)\r\n\r\n" + events)
                } else {
                    connection.respond(body: completionJSON(content: "refined"))
                }
                served += 1
            }
        }
        let proxy = try proxy(["CRITIQUE_BASE_URL": "https://localhost:\(front.port)/v1", "UPSTREAM_CA_FILE": certificates.ca,
                               "UPSTREAM_TIMEOUT_SECONDS": "30"])
        // Warm up: several client connections, so the proxy pools a critique connection on
        // every event loop its requests run on.
        for _ in 0..<6 {
            let r = try proxy.chat(ProxyFixture.chatBody())
            XCTAssertEqual(content(r, stream: false), "refined", r.text)
        }
        let warmHandshakes = front.handshakes
        resetting.set(true)
        for stream in [false, true, false, true] {
            try assertFallsBackAtOnce(proxy, stream: stream, "reset on a reused connection")
        }
        XCTAssertGreaterThanOrEqual(resetsOnReusedConnections.value, 1, "no critique request went out on a pooled connection")
        XCTAssertGreaterThan(front.handshakes, warmHandshakes, "the reset pooled connection was retried on a fresh one")
    }

    /// The primary over https with a CA that did not sign its certificate: 502 naming the cause.
    func testAPrimaryWithAnUnknownCAAnswers502NamingIt() throws {
        let fake = try FakeUpstream()
        fake.start()
        let front = try TLSFront(backendPort: fake.port, certificate: certificates.server.certificate, privateKey: certificates.server.privateKey)
        stops.append { front.close(); blocking { await fake.shutdown() } }
        let proxy = try proxy(["OPENAI_BASE_URL": "https://localhost:\(front.port)/v1", "UPSTREAM_CA_FILE": certificates.otherCA], fake: fake)
        let r = try proxy.chat(ProxyFixture.chatBody())
        let error = r.assertOpenAIError(status: 502)
        let message = error?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("unknown CA"), message)
        XCTAssertTrue(message.contains("primary"), message)
        XCTAssertTrue(message.contains("https://localhost:\(front.port)"), message)
        XCTAssertFalse(r.text.contains("sk-upstream-key-0000"), "the upstream key leaked into the error")
        XCTAssertEqual(fake.stats.requests, 0, "a request went over a connection that failed verification")

        let streamed = try proxy.chat(ProxyFixture.chatBody(stream: true))
        XCTAssertTrue(streamed.text.contains("unknown CA"), streamed.text)
    }

    /// Both stages over https, trusted through `UPSTREAM_CA_FILE` (and, alike, `SSL_CERT_FILE`):
    /// the critique's answer, streamed and not.
    func testBothStagesOverHTTPSWithThePrivateCA() throws {
        for variable in ["UPSTREAM_CA_FILE", "SSL_CERT_FILE"] {
            let fake = try FakeUpstream()
            fake.start()
            let front = try TLSFront(backendPort: fake.port, certificate: certificates.server.certificate, privateKey: certificates.server.privateKey)
            stops.append { front.close(); blocking { await fake.shutdown() } }
            let proxy = try proxy(["OPENAI_BASE_URL": "https://localhost:\(front.port)/v1", variable: certificates.ca], fake: fake)
            try proxy.script("critique", #"{"content":"the refined answer"}"#)
            for stream in [false, true] {
                let r = try proxy.chat(ProxyFixture.chatBody(stream: stream))
                XCTAssertEqual(r.status, 200, r.text)
                XCTAssertEqual(content(r, stream: stream), "the refined answer", "\(variable) stream=\(stream): \(r.text)")
            }
            XCTAssertEqual(fake.requests(model: "primary").count, 2, variable)
            XCTAssertEqual(fake.requests(model: "critique").count, 2, variable)
            XCTAssertGreaterThanOrEqual(front.handshakes, 1, variable)
        }
    }

    /// `UPSTREAM_TLS_VERIFY=false` accepts a certificate for another name; the default refuses it.
    func testVerificationOffAcceptsAWrongNameCertificate() throws {
        let fake = try FakeUpstream()
        fake.start()
        let front = try TLSFront(backendPort: fake.port, certificate: certificates.wrongName.certificate, privateKey: certificates.wrongName.privateKey)
        stops.append { front.close(); blocking { await fake.shutdown() } }
        let base = "https://localhost:\(front.port)/v1"

        let verifying = try proxy(["OPENAI_BASE_URL": base, "UPSTREAM_CA_FILE": certificates.ca], fake: fake)
        let refused = try verifying.chat(ProxyFixture.chatBody())
        let message = refused.assertOpenAIError(status: 502)?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("name mismatch"), message)

        let unverified = try proxy(["OPENAI_BASE_URL": base, "UPSTREAM_TLS_VERIFY": "false"], fake: fake)
        let r = try unverified.chat(ProxyFixture.chatBody())
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(fake.requests(model: "primary").count, 1)
    }

    /// `HTTPS_PROXY` in the configuration: both stages' calls go through the CONNECT proxy.
    func testHTTPSProxyCarriesUpstreamCalls() throws {
        let fake = try FakeUpstream()
        fake.start()
        let front = try TLSFront(backendPort: fake.port, certificate: certificates.server.certificate, privateKey: certificates.server.privateKey)
        let connectProxy = try ConnectProxy()
        stops.append { connectProxy.stop(); front.close(); blocking { await fake.shutdown() } }
        let proxy = try proxy(["OPENAI_BASE_URL": "https://localhost:\(front.port)/v1", "UPSTREAM_CA_FILE": certificates.ca,
                               "HTTPS_PROXY": connectProxy.url], fake: fake)
        let r = try proxy.chat(ProxyFixture.chatBody())
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertFalse(connectProxy.targets.isEmpty, "no call went through HTTPS_PROXY")
        XCTAssertEqual(Set(connectProxy.targets), ["localhost:\(front.port)"])
        XCTAssertEqual(fake.stats.requests, 2)
    }

    // MARK: check-config

    struct Run {
        var exited: Bool
        var status: Int32
        var stdout: String
    }

    /// `hydracodedone check-config` with exactly `environment` (plus PATH), no .env file, and
    /// SIGPIPE at its default action as from a shell (this test process ignores it, and an
    /// ignored signal stays ignored across exec).
    func checkConfig(_ environment: [String: String]) throws -> Run {
        let binary = try XCTUnwrap(ExecutableTests.binary, "the hydracodedone executable was not built next to the tests")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["--default-signal=PIPE", binary.path, "check-config"]
        var env = environment
        env["PATH"] = ProcessInfo.processInfo.environment["PATH"]
        env["ENV_FILE"] = ProxyFixture.missingEnvFile
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Run(exited: process.terminationReason == .exit, status: process.terminationStatus, stdout: stdout)
    }

    /// check-config checks https upstreams with the same transport and trust settings: the
    /// private CA passes, an unrelated CA is named, verification off warns, and an upstream that
    /// resets the TLS connection is reported (the process is not killed by SIGPIPE when the TLS
    /// layer writes its close_notify to the reset socket).
    func testCheckConfigOverHTTPS() throws {
        let fake = try FakeUpstream()
        fake.start()
        fake.script("primary", FakeScript(content: "x"))
        let front = try TLSFront(backendPort: fake.port, certificate: certificates.server.certificate, privateKey: certificates.server.privateKey)
        stops.append { front.close(); blocking { await fake.shutdown() } }
        let (_, resetting) = try httpsRaw { connection in
            connection.readRequest()
            connection.reset()
        }
        let base = ["PRIMARY_MODEL_NAME": "primary", "OPENAI_BASE_URL": "https://localhost:\(front.port)/v1"]

        let trusted = try checkConfig(base.merging(["UPSTREAM_CA_FILE": certificates.ca]) { $1 })
        XCTAssertEqual(trusted.status, 0, trusted.stdout)
        XCTAssertTrue(trusted.stdout.contains("✓ primary"), trusted.stdout)

        let unknown = try checkConfig(base.merging(["UPSTREAM_CA_FILE": certificates.otherCA]) { $1 })
        XCTAssertEqual(unknown.status, 1, unknown.stdout)
        XCTAssertTrue(unknown.stdout.contains("unknown CA"), unknown.stdout)

        let unverified = try checkConfig(base.merging(["UPSTREAM_TLS_VERIFY": "false"]) { $1 })
        XCTAssertEqual(unverified.status, 0, unverified.stdout)
        XCTAssertTrue(unverified.stdout.contains("WARNING") && unverified.stdout.contains("UPSTREAM_TLS_VERIFY=false"), unverified.stdout)

        let reset = try checkConfig(["PRIMARY_MODEL_NAME": "primary", "OPENAI_BASE_URL": "https://localhost:\(resetting.port)/v1",
                                     "UPSTREAM_CA_FILE": certificates.ca])
        XCTAssertTrue(reset.exited, "check-config was killed by signal \(reset.status)")
        XCTAssertEqual(reset.status, 1, reset.stdout)
        XCTAssertTrue(reset.stdout.contains("✗ primary"), reset.stdout)
    }
}
