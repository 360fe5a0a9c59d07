import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// `https://` upstreams through URLSession (libcurl on Linux). `bytes(for:)` does not exist there,
/// so a data delegate feeds each task's bytes into a stream as they arrive.
public final class URLSessionTransport: UpstreamTransport {
    private let session: URLSession
    private let router: DelegateRouter

    public init(maxConnectionsPerHost: Int = 256) {
        let configuration = URLSessionConfiguration.default
        // The default of 6 makes the 7th concurrent stream wait for an earlier one to finish.
        configuration.httpMaximumConnectionsPerHost = maxConnectionsPerHost
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        router = DelegateRouter()
        session = URLSession(configuration: configuration, delegate: router, delegateQueue: nil)
    }

    public func send(_ request: UpstreamRequest) async throws(UpstreamError) -> UpstreamResponse {
        guard let url = URL(string: request.endpoint.url(request.path)) else { throw .unreachable("invalid URL") }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        // URLSession's request timeout is an idle timeout: time without any data.
        urlRequest.timeoutInterval = Double(request.idleTimeout.components.seconds) + Double(request.idleTimeout.components.attoseconds) / 1e18
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        if !request.body.isEmpty { urlRequest.httpBody = Data(request.body) }
        let task = session.dataTask(with: urlRequest)
        let (stream, continuation) = AsyncThrowingStream<[UInt8], Error>.makeStream()
        let body = StreamedBody(stream: stream, task: task)
        do {
            let response: HTTPURLResponse = try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { head in
                    router.register(task.taskIdentifier, head: head, body: continuation)
                    task.resume()
                }
            } onCancel: {
                task.cancel()
            }
            var headers: [(String, String)] = []
            for (k, v) in response.allHeaderFields {
                if let k = k as? String, let v = v as? String { headers.append((k.lowercased(), v)) }
            }
            return UpstreamResponse(status: response.statusCode, headers: headers, body: body)
        } catch {
            task.cancel()
            throw Self.map(error)
        }
    }

    static func map(_ error: any Error) -> UpstreamError {
        if error is CancellationError { return .cancelled }
        if let e = error as? URLError {
            switch e.code {
            case .timedOut: return .timeout
            case .cancelled: return .cancelled
            case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet, .secureConnectionFailed,
                 .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot:
                return .unreachable(e.localizedDescription)
            case .networkConnectionLost: return .truncated("connection lost")
            default: return .unreachable(e.localizedDescription)
            }
        }
        return .unreachable("\(error)")
    }
}

/// Body pieces from the delegate. Cancelling stops the data task (leaving the loop alone would not).
actor StreamedBody: UpstreamBody {
    private var iterator: AsyncThrowingStream<[UInt8], Error>.AsyncIterator
    private let task: URLSessionDataTask

    init(stream: AsyncThrowingStream<[UInt8], Error>, task: URLSessionDataTask) {
        self.iterator = stream.makeAsyncIterator()
        self.task = task
    }

    func next() async throws(UpstreamError) -> [UInt8]? {
        do {
            var local = iterator
            defer { iterator = local }
            let piece = try await withTaskCancellationHandler {
                try await local.next()
            } onCancel: { [task] in
                task.cancel()
            }
            if piece == nil, Task.isCancelled { throw UpstreamError.cancelled }
            return piece
        } catch {
            task.cancel()
            throw URLSessionTransport.map(error)
        }
    }

    func cancel() { task.cancel() }

    deinit { task.cancel() }
}

/// One delegate for the session, routing callbacks to the waiting task by task identifier.
final class DelegateRouter: NSObject, URLSessionDataDelegate, Sendable {
    private struct Entry {
        var head: CheckedContinuation<HTTPURLResponse, Error>?
        let body: AsyncThrowingStream<[UInt8], Error>.Continuation
    }
    private let entries = Mutex<[Int: Entry]>([:])

    func register(_ id: Int, head: CheckedContinuation<HTTPURLResponse, Error>, body: AsyncThrowingStream<[UInt8], Error>.Continuation) {
        entries.withLock { $0[id] = Entry(head: head, body: body) }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let head = entries.withLock { e -> CheckedContinuation<HTTPURLResponse, Error>? in
            defer { e[dataTask.taskIdentifier]?.head = nil }
            return e[dataTask.taskIdentifier]?.head
        }
        if let http = response as? HTTPURLResponse {
            head?.resume(returning: http)
        } else {
            head?.resume(throwing: URLError(.badServerResponse))
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let body = entries.withLock { $0[dataTask.taskIdentifier]?.body }
        body?.yield([UInt8](data))
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        guard let entry = entries.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
        if let error {
            entry.head?.resume(throwing: error)
            entry.body.finish(throwing: error)
        } else {
            entry.head?.resume(throwing: URLError(.badServerResponse))
            entry.body.finish()
        }
    }
}
