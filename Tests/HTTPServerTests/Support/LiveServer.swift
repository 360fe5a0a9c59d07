import Dispatch
import Foundation
import HTTPServer
import Synchronization
import XCTest
@testable import TestSupport

/// A handler made of a closure, so each test states its own behaviour.
struct ClosureHandler: HTTPHandler {
    let body: @Sendable (HTTPRequest) async -> HTTPResponse
    func handle(_ request: HTTPRequest) async -> HTTPResponse { await body(request) }
}

/// An `HTTPServer` on an ephemeral loopback port, serving in a background task.
final class LiveServer: Sendable {
    let server: HTTPServer
    var port: UInt16 { server.port }

    init(limits: ServerLimits = ServerLimits(), errorResponder: @escaping ErrorResponder = HTTPServer.plainError,
         handler: @escaping @Sendable (HTTPRequest) async -> HTTPResponse) throws {
        server = try HTTPServer(host: "127.0.0.1", port: 0, limits: limits, handler: ClosureHandler(body: handler),
                                errorResponder: errorResponder)
        let server = self.server
        Task { await server.run() }
    }

    /// Graceful shutdown, waited for on the calling thread.
    func stop(grace: Duration = .milliseconds(200)) {
        let server = self.server
        blocking { await server.shutdown(grace: grace) }
    }

    func client() throws -> RawClient { try RawClient(port: port) }
}


/// A counter or flag shared between a handler and the test.
final class Counter: Sendable {
    private let value = Mutex(0)
    func add(_ n: Int = 1) { value.withLock { $0 += n } }
    func set(_ n: Int) { value.withLock { $0 = n } }
    var current: Int { value.withLock { $0 } }
}

/// Opened once by the test; handlers waiting on it resume then.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }
}


/// Runs /usr/bin/curl; stdout and stderr are collected whole.
func curl(_ arguments: [String], stdin: [UInt8]? = nil) throws -> (status: Int32, stdout: [UInt8], stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
    try input.fileHandleForWriting.close()
    let errData = Locked(Data())
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        let data = err.fileHandleForReading.readDataToEndOfFile()
        errData.set(data)
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    group.wait()
    return (process.terminationStatus, [UInt8](outData), String(decoding: errData.value, as: UTF8.self))
}

/// Number of open descriptors of this process.
func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

extension HTTPResponse {
    static func text(_ s: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "text/plain"], text: s)
    }
}
