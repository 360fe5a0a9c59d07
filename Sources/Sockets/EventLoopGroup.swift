import Foundation
import Synchronization

/// One event loop per core. Connections are spread round-robin; a socket opened by a task that
/// runs on a loop (an upstream connection made while serving a client) stays on that loop.
public final class EventLoopGroup: Sendable {
    public static let shared = EventLoopGroup(count: max(1, ProcessInfo.processInfo.activeProcessorCount))

    public let loops: [EventLoop]
    private let counter = Atomic<Int>(0)

    public init(count: Int) {
        loops = (0..<count).map { EventLoop(name: "hydra-loop-\($0)") }
    }

    /// The next loop in turn.
    public func next() -> EventLoop {
        loops[counter.wrappingAdd(1, ordering: .relaxed).oldValue % loops.count]
    }

    /// The loop whose thread is running the caller, if any.
    public var current: EventLoop? { loops.first { $0.inLoop } }

    /// The caller's loop when it runs on one, else the next in turn.
    public func any() -> EventLoop { current ?? next() }
}
