import FakeUpstream
import Foundation
import OpenAIWire
import XCTest
@testable import TestSupport

/// The built `hydracodedone` executable as a user runs it.
final class ExecutableTests: XCTestCase {
    /// Next to the test bundle in the build directory (`swift build --build-tests` builds both).
    static var binary: URL? {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("hydracodedone"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("hydracodedone"),
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug/hydracodedone"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary with exactly `environment` (plus PATH) and no .env file.
    func run(_ arguments: [String], environment: [String: String], timeout: Double = 20) throws -> Run {
        let binary = try XCTUnwrap(Self.binary, "the hydracodedone executable was not built next to the tests")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var env = environment
        env["PATH"] = ProcessInfo.processInfo.environment["PATH"]
        env["ENV_FILE"] = ProxyFixture.missingEnvFile
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = now() + timeout
        while process.isRunning, now() < deadline { usleep(10_000) }
        if process.isRunning { process.terminate(); XCTFail("\(arguments) did not exit within \(timeout) s") }
        process.waitUntilExit()
        return Run(status: process.terminationStatus,
                   stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                   stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    func testInvalidConfigurationExitsNonZeroWithOneLineNamingTheVariable() throws {
        let cases: [([String: String], String)] = [
            ([:], "PRIMARY_MODEL_NAME"),
            (["PRIMARY_MODEL_NAME": "m", "PORT": "eighty"], "PORT"),
            (["PRIMARY_MODEL_NAME": "m", "LOG_LEVEL": "chatty"], "LOG_LEVEL"),
            (["PRIMARY_MODEL_NAME": "m", "OPENAI_BASE_URL": "localhost:11434"], "OPENAI_BASE_URL"),
            (["PRIMARY_MODEL_NAME": "m", "CRITIQUE_FAILURE": "retry"], "CRITIQUE_FAILURE"),
            (["PRIMARY_MODEL_NAME": "m", "HEARTBEAT_SECONDS": "0"], "HEARTBEAT_SECONDS"),
            (["PRIMARY_MODEL_NAME": "m", "MAX_CONNECTIONS": "many"], "MAX_CONNECTIONS"),
        ]
        for (env, variable) in cases {
            let r = try run([], environment: env)
            XCTAssertNotEqual(r.status, 0, variable)
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(variable): \(r.stderr)")
            XCTAssertTrue(lines.first?.contains(variable) ?? false, "\(variable) not named: \(r.stderr)")
            XCTAssertTrue(r.stdout.isEmpty, r.stdout)
        }
    }

    /// check-config prints each setting whole, values with spaces included.
    func testCheckConfigPrintsValuesWithSpacesWhole() throws {
        let r = try run(["check-config"], environment: ["PRIMARY_MODEL_NAME": "m", "OPENAI_BASE_URL": "http://127.0.0.1:\(closedLoopbackPort())/v1",
                                                        "CRITIQUE_SKIP_PATTERNS": "^### Task:||^Suggest a title"])
        let lines = r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertTrue(lines.contains { $0.range(of: #"^critique_prompt=\d+ chars$"#, options: .regularExpression) != nil }, r.stdout)
        XCTAssertTrue(lines.contains(#"skip_patterns=["^### Task:", "^Suggest a title"]"#), r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("✗ primary: cannot reach") }, r.stdout)
        XCTAssertEqual(r.status, 1)
    }

    func testVersionAndHelp() throws {
        let version = try run(["--version"], environment: [:])
        XCTAssertEqual(version.status, 0)
        XCTAssertTrue(version.stdout.hasPrefix("hydracodedone "), version.stdout)
        let help = try run(["--help"], environment: [:])
        XCTAssertEqual(help.status, 0)
        for word in ["check-config", "healthcheck", ".env"] { XCTAssertTrue(help.stdout.contains(word), word) }
        let unknown = try run(["frobnicate"], environment: [:])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("frobnicate"))
    }

    /// The real process: starts on the configured port, answers, drains on SIGTERM and exits 0.
    func testServesAndStopsOnSIGTERM() throws {
        let fake = try FakeUpstream()
        fake.start()
        defer { blocking { await fake.shutdown() } }
        let proxy = try ProxyProcess(environment: ["OPENAI_BASE_URL": fake.baseURL, "PRIMARY_MODEL_NAME": "primary",
                                                   "CRITIQUE_MODEL_NAME": "critique", "LOG_LEVEL": "INFO"])
        XCTAssertEqual(try proxy.send("GET", "/health").status, 200)
        XCTAssertEqual(try proxy.send("POST", "/v1/chat/completions", body: ProxyFixture.chatBody()).status, 200)
        XCTAssertEqual(fake.stats.requests, 2)

        XCTAssertEqual(proxy.stop(), 0, "SIGTERM must drain and exit 0")
        let log = proxy.log
        XCTAssertTrue(log.contains("listening on 127.0.0.1:\(proxy.port)"), log)
        XCTAssertTrue(log.contains("primary started"), log)
        XCTAssertTrue(log.contains("critique started"), log)
        XCTAssertTrue(log.contains("done status=200"), log)
        let requestLines = log.split(separator: "\n").filter { $0.contains("done status=200") }
        XCTAssertTrue(requestLines.allSatisfy { $0.contains("req=") }, "request log lines carry req=<id>")
    }

    /// A client-chosen value with a newline or terminal escapes stays inside its own log line.
    func testClientValuesCannotForgeLogLines() throws {
        let fake = try FakeUpstream()
        fake.start()
        defer { blocking { await fake.shutdown() } }
        let proxy = try ProxyProcess(environment: ["OPENAI_BASE_URL": fake.baseURL, "PRIMARY_MODEL_NAME": "primary",
                                                   "CRITIQUE_MODEL_NAME": "critique", "LOG_LEVEL": "INFO"])
        let model = #"gpt\n2099-01-01T00:00:00.000Z ERROR req=forged admin login from 6.6.6.6\u001b[2J"#
        let r = try proxy.send("POST", "/v1/chat/completions", body: #"{"model":"\#(model)","messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(proxy.stop(), 0)
        let lines = proxy.log.split(separator: "\n")
        XCTAssertFalse(lines.contains { $0.hasPrefix("2099-01-01") }, "a forged line was written: \(proxy.log)")
        XCTAssertFalse(proxy.log.contains("\u{1B}"), "a raw escape reached the log")
        XCTAssertTrue(lines.contains { $0.contains(#"model=gpt\n2099-01-01T00:00:00.000Z ERROR req=forged"#) }, proxy.log)
    }

    /// A tool-call answer is not critiqued, and its log line says so.
    func testToolCallAnswersAreLoggedAsSkippedCritiques() throws {
        let fake = try FakeUpstream()
        fake.start()
        defer { blocking { await fake.shutdown() } }
        fake.script("primary", try FakeScript(json: try JSONParser.parse(#"{"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}"#)))
        let proxy = try ProxyProcess(environment: ["OPENAI_BASE_URL": fake.baseURL, "PRIMARY_MODEL_NAME": "primary",
                                                   "CRITIQUE_MODEL_NAME": "critique", "LOG_LEVEL": "INFO"])
        XCTAssertEqual(try proxy.send("POST", "/v1/chat/completions", body: ProxyFixture.chatBody()).status, 200)
        XCTAssertEqual(try proxy.send("POST", "/v1/chat/completions", body: ProxyFixture.chatBody(stream: true)).status, 200)
        XCTAssertEqual(proxy.stop(), 0)
        let done = proxy.log.split(separator: "\n").filter { $0.contains("done status=200") }
        XCTAssertEqual(done.count, 2, proxy.log)
        XCTAssertTrue(done.allSatisfy { $0.contains("critique=skipped (tool calls)") && !$0.contains("critique=applied") }, proxy.log)
    }
}
