import Dispatch
import Foundation
import Glibc
import HTTPServer
import Sockets
import Synchronization
import Upstream

/// Starts the proxy: configuration, server, signals. Returns the process exit code.
public enum App {
    public static let version = "0.1.0"

    public static func serve(environment: [String: String], envFile: String) async -> Int32 {
        let store: ConfigStore
        do {
            store = try ConfigStore(environment: environment, envFilePath: envFile)
        } catch {
            Logger(level: .error).error("\(error)")
            return 2
        }
        let config = await store.current
        let logger = Logger(level: config.logLevel)
        let server: HTTPServer
        let readiness = Readiness()
        do {
            (server, _) = try await assemble(store: store, host: config.host, port: config.port, readiness: readiness)
        } catch {
            logger.error("cannot listen on \(config.host):\(config.port): \(error)")
            return 1
        }
        // SIGHUP re-reads .env and the pipelines file; requests in flight keep their snapshot.
        // Watched before the "listening" line: a signal sent as soon as that line appears must
        // not meet the default action (SIGHUP would end the process).
        let signals = SignalWatcher([SIGTERM, SIGINT, SIGHUP])
        logger.info("hydracodedone \(version) listening on \(config.host):\(server.port)")
        logger.info("configuration: \(config.summary)")
        for warning in config.warnings { logger.warning(warning) }
        let serving = Task { await server.run() }
        let trimming = Task { await server.releaseMemoryWhenIdle() }
        defer { trimming.cancel() }
        let watching = config.configWatch.map { interval in
            Task { await ConfigWatcher(store: store, envFilePath: envFile).run(every: interval, logger: logger) }
        }
        defer { watching?.cancel() }
        Task { await warnIfUnreachable(config.primary, store: store, logger: logger) }
        for await signal in signals.stream {
            if signal == SIGHUP {
                switch await store.reload() {
                case .success(let fresh):
                    logger.info("configuration reloaded: \(fresh.summary)")
                    for warning in fresh.warnings { logger.warning(warning) }
                case .failure(let error):
                    logger.error("reload failed, keeping the previous configuration: \(error)")
                }
                continue
            }
            // Readiness says 503 from now on, while the listener stays open and requests in
            // flight (and any the load balancer still sends) finish; then the server drains.
            let grace = await store.current.gracefulShutdown
            readiness.beginDraining()
            logger.info("shutting down: /health/ready now answers 503; draining \(readiness.inFlight) in-flight request(s) (up to \(grace))")
            let deadline = ContinuousClock.now + grace
            while readiness.inFlight > 0, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            await server.shutdown(grace: max(.zero, deadline - .now))
            serving.cancel()
            logger.info("stopped")
            break
        }
        // The signal sources must outlive the loop: released early, they would stop delivering.
        withExtendedLifetime(signals) {}
        return 0
    }
}

extension App {
    /// Wires configuration, registry, admission, metrics and transports into a listening server.
    /// Tests use it too, on port 0, so they exercise exactly what `serve` runs.
    static func assemble(store: ConfigStore, host: String, port: UInt16, readiness: Readiness = Readiness()) async throws -> (HTTPServer, ModelRegistry) {
        let config = await store.current
        let admission = Admission(limit: config.maxConcurrentRequests, maxQueued: config.maxQueuedRequests)
        readiness.track(admission)
        let registry = ModelRegistry(created: unixTime())
        let transports = Transports()
        await registry.startRefreshing(every: .seconds(60), config: { await store.current }) { endpoint in
            let client = transports.client(for: await store.current.network)
            return try? await ChatUpstream(transport: client, idleTimeout: .seconds(10)).models(endpoint)
        }
        let connections = ConnectionCount()
        let handler = ProxyHandler(store: store, registry: registry, metrics: Metrics(), admission: admission,
                                   transports: transports, connections: { connections.value }, readiness: readiness)
        let server = try HTTPServer(host: host, port: port, limits: config.limits, handler: handler,
                                    errorResponder: openAIErrorResponder)
        connections.server = server
        return (server, registry)
    }
}

extension App {
    /// A new user's first clue that the upstream is not there: one line at start-up, not a
    /// puzzling 502 on the first request.
    static func warnIfUnreachable(_ primary: UpstreamEndpoint, store: ConfigStore, logger: Logger) async {
        let client = Transports().client(for: await store.current.network)
        do {
            _ = try await ChatUpstream(transport: client, idleTimeout: .seconds(5)).models(primary)
        } catch {
            switch error {
            case .unreachable, .timeout:
                logger.warning("the primary upstream \(primary.url(primary.modelsPath)) is not answering (\(error.description)); requests will fail until it is up. Check with: hydracodedone check-config")
            default:
                break
            }
        }
    }
}

/// Lets the metrics route read the server's connection count without a reference cycle at init.
final class ConnectionCount: Sendable {
    private let box = Mutex<HTTPServer?>(nil)
    var server: HTTPServer? {
        get { box.withLock { $0 } }
        set { box.withLock { $0 = newValue } }
    }
    var value: Int { server?.openConnections ?? 0 }
}
