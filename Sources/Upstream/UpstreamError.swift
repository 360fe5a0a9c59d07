/// Why an upstream call failed. Each kind maps to the status the client sees.
public enum UpstreamError: Error, Sendable, Equatable {
    /// DNS, refused, reset before the response began.
    case unreachable(String)
    /// No byte from the upstream for the configured time.
    case timeout
    /// The upstream answered with an error status; `message` is its own (truncated, scrubbed);
    /// `retryAfter` is its `Retry-After` in seconds, when it sent one.
    case status(Int, message: String, retryAfter: Duration? = nil)
    /// Not HTTP, not JSON, not the shape we expect.
    case malformed(String)
    /// Valid JSON whose fields have types OpenAI's schema does not allow (`"content": 123`).
    case invalid(String)
    /// The connection or stream ended before the answer was complete.
    case truncated(String)
    /// The answer exceeded the configured size cap.
    case tooLarge(Int)
    /// Our own client went away; the call was abandoned on purpose.
    case cancelled

    /// Metric label.
    public var kind: String {
        switch self {
        case .unreachable: return "unreachable"
        case .timeout: return "timeout"
        case .status(let s, _, _): return s >= 500 ? "status_5xx" : "status_4xx"
        case .malformed: return "malformed"
        case .invalid: return "invalid"
        case .truncated: return "truncated"
        case .tooLarge: return "too_large"
        case .cancelled: return "cancelled"
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let why): return "upstream unreachable: \(why)"
        case .timeout: return "upstream sent nothing within the timeout"
        case .status(let s, let m, _): return "upstream answered \(s): \(m)"
        case .malformed(let why): return "upstream sent a malformed response: \(why)"
        case .invalid(let why): return "upstream sent an invalid response: \(why)"
        case .truncated(let why): return "upstream response ended early: \(why)"
        case .tooLarge(let cap): return "upstream response exceeded \(cap) bytes"
        case .cancelled: return "request cancelled"
        }
    }
}
