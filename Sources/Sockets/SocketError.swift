import Glibc

/// Failures of the socket layer. `timedOut` and `closed` are expected in normal operation.
public enum SocketError: Error, Sendable, Equatable {
    case system(call: String, errno: Int32)
    case timedOut
    case closed
    case addressInvalid(String)

    static func last(_ call: String) -> SocketError { .system(call: call, errno: errno) }

    /// True when the peer went away (reset, broken pipe): not worth logging loudly.
    public var isDisconnect: Bool {
        switch self {
        case .closed: return true
        case .system(_, let code): return code == ECONNRESET || code == EPIPE || code == ENOTCONN
        default: return false
        }
    }
}

extension SocketError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .system(let call, let code): return "\(call): \(String(cString: strerror(code)))"
        case .timedOut: return "timed out"
        case .closed: return "connection closed"
        case .addressInvalid(let a): return "invalid address \(a)"
        }
    }
}
