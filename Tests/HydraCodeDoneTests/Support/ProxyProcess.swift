import Foundation
import XCTest
@testable import TestSupport

/// The built `hydracodedone` executable running as a user runs it, on a port the kernel picks,
/// with its stderr (the log) collected.
final class ProxyProcess {
    let process = Process()
    let port: UInt16
    private let logged = Locked("")
    private let stderr = Pipe()

    var log: String { logged.value }

    /// `environment` is the whole environment (plus PATH); `HOST`/`PORT` are set here.
    init(environment: [String: String]) throws {
        let binary = try XCTUnwrap(ExecutableTests.binary, "the hydracodedone executable was not built next to the tests")
        process.executableURL = binary
        var env = environment
        env["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? ""
        env["ENV_FILE"] = env["ENV_FILE"] ?? ProxyFixture.missingEnvFile
        env["HOST"] = "127.0.0.1"
        env["PORT"] = "0"
        process.environment = env
        let logged = self.logged
        stderr.fileHandleForReading.readabilityHandler = { handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            logged.set(logged.value + text)
        }
        process.standardError = stderr
        process.standardOutput = Pipe()
        try process.run()
        // PORT=0: the startup line says which port the kernel gave.
        var found: UInt16 = 0
        let listening = eventually(timeout: 10) {
            guard let line = logged.value.split(separator: "\n").first(where: { $0.contains("listening on 127.0.0.1:") }),
                  let p = line.split(separator: ":").last.flatMap({ UInt16($0) }) else { return false }
            found = p
            return true
        }
        port = found
        if !listening {
            process.terminate()
            XCTFail("no startup line: \(logged.value)")
        }
    }

    func client() throws -> RawClient { try RawClient(port: port) }

    func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: String = "") throws -> RawResponse {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        return try client().exchange(head + "\r\n" + body)
    }

    /// Sends SIGTERM and waits for the exit status.
    func stop() -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        _ = eventually(timeout: 10) { !self.process.isRunning }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        usleep(100_000)
        stderr.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }
}
