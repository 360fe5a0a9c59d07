import OpenAIWire
import Upstream

/// How a stage's upstream call survives a busy or dead upstream: retry the same one on 408/429/503
/// (honouring `Retry-After` up to a cap), then try the stage's alternatives in order on connect
/// and TLS failures, timeouts, 5xx and 429. Only the call's opening is retried or moved: once a
/// stream has begun, its bytes may already be the client's, and nothing is sent twice.
public struct RetryPolicy: Sendable, Equatable {
    /// Extra attempts on the same upstream after 408, 429 or 503.
    public var retries: Int
    /// A longer `Retry-After` is not waited for: the next alternative is tried instead.
    public var maxWait: Duration
    /// How long an upstream that failed is tried last (0: never skipped).
    public var cooldown: Duration

    public init(retries: Int = 1, maxWait: Duration = .seconds(10), cooldown: Duration = .seconds(30)) {
        self.retries = retries
        self.maxWait = maxWait
        self.cooldown = cooldown
    }

    /// Without `Retry-After`: 0.5 s, 1 s, 2 s … (before jitter).
    func backoff(_ attempt: Int) -> Duration { .milliseconds(500 << min(attempt, 5)) }
}

struct StageCall {
    let stage: PipelineStage
    let target: PipelinePlan.Stage
    let policy: RetryPolicy
    let cooldowns: Cooldowns?
    let observer: any PipelineObserver

    /// The stage and its alternatives, those cooling down after a recent failure last.
    var candidates: [PipelinePlan.Stage] {
        let all = [target] + target.fallbacks
        guard let cooldowns, all.count > 1 else { return all }
        let cooling = all.map { cooldowns.isCooling($0.endpoint, period: policy.cooldown) }
        return zip(all, cooling).filter { !$0.1 }.map(\.0) + zip(all, cooling).filter(\.1).map(\.0)
    }

    /// Runs `call` on each candidate in turn until one answers; the body's `model` follows the
    /// candidate. Returns the answer and the candidate that gave it.
    func run<T: Sendable>(body: JSONObject,
                          _ call: (PipelinePlan.Stage, JSONObject) async throws(UpstreamError) -> T) async throws(UpstreamError) -> (T, PipelinePlan.Stage) {
        // The common case, one upstream: no candidate list is built.
        let list = target.fallbacks.isEmpty ? nil : candidates
        let count = list?.count ?? 1
        var lastError = UpstreamError.unreachable("no upstream configured")
        for index in 0..<count {
            let candidate = list?[index] ?? target
            var attemptBody = body
            // Only an alternative changes the model (and pays for a copy of the body).
            if list != nil, candidate.endpoint.model != target.endpoint.model { attemptBody["model"] = .string(candidate.endpoint.model) }
            var attempt = 0
            while true {
                do {
                    let answer = try await call(candidate, attemptBody)
                    if list != nil { cooldowns?.succeeded(candidate.endpoint) }
                    if list != nil, index > 0 || candidate.endpoint != target.endpoint { observer.answeredBy(stage, candidate.endpoint) }
                    return (answer, candidate)
                } catch {
                    if error == .cancelled || Task.isCancelled { throw .cancelled }
                    lastError = error
                    if let wait = retryWait(error, attempt: attempt) {
                        observer.upstreamRetried(stage, candidate.endpoint, reason: Self.reason(error), after: wait)
                        do { try await Task.sleep(for: wait) } catch { throw .cancelled }
                        attempt += 1
                        continue
                    }
                    guard Self.movesOn(error) else { throw error }
                    if list != nil { cooldowns?.failed(candidate.endpoint) }
                    let next = index + 1 < count ? list?[index + 1].endpoint : nil
                    if next != nil { observer.fellOver(stage, from: candidate.endpoint, to: next, reason: Self.reason(error)) }
                    break
                }
            }
        }
        throw lastError
    }

    /// How long to wait before trying the same upstream again, or nil to move on.
    func retryWait(_ error: UpstreamError, attempt: Int) -> Duration? {
        guard attempt < policy.retries, case .status(let status, _, let retryAfter) = error,
              [408, 429, 503].contains(status) else { return nil }
        let base = retryAfter ?? policy.backoff(attempt)
        guard base <= policy.maxWait else { return nil }
        // Jitter spreads the retries of many requests that failed together.
        return base + .milliseconds(Int.random(in: 0...250))
    }

    /// Errors that say "this upstream cannot answer now", not "this request is wrong".
    static func movesOn(_ error: UpstreamError) -> Bool {
        switch error {
        case .unreachable, .timeout: return true
        case .status(let status, _, _): return status >= 500 || status == 429 || status == 408
        default: return false
        }
    }

    static func reason(_ error: UpstreamError) -> String {
        switch error {
        case .status(let status, _, _): return "\(status)"
        default: return error.kind
        }
    }
}
