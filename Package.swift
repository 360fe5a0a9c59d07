// swift-tools-version:6.0
import PackageDescription

// No package dependencies by design: Foundation, Dispatch, Glibc and Swift concurrency only.
let package = Package(
    name: "HydraCodeDone",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hydracodedone", targets: ["hydracodedone"]),
        .executable(name: "fake-upstream", targets: ["fake-upstream"]),
    ],
    targets: [
        // epoll, eventfd, accept4 and TCP_INFO are not exported by Glibc's Swift module.
        .target(name: "CSystem"),
        // Non-blocking sockets and the epoll event loops (each also a task executor): knows no protocol.
        .target(name: "Sockets", dependencies: ["CSystem"]),
        // OpenSSL behind a narrow C face (opaque handles; the macros Swift cannot import).
        .target(name: "CTLS", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        // TLS on the event loops' sockets: handshake, records, certificate verdicts. Knows no HTTP.
        .target(name: "TLS", dependencies: ["Sockets", "CTLS"]),
        // HTTP/1.1 pieces both directions need (chunked transfer coding).
        .target(name: "HTTP1Codec"),
        // The HTTP/1.1 server: knows nothing of OpenAI.
        .target(name: "HTTPServer", dependencies: ["Sockets", "HTTP1Codec", "CSystem"]),
        // OpenAI wire values (JSON that keeps unknown fields, SSE framing, errors).
        .target(name: "OpenAIWire"),
        // Clients for OpenAI-compatible upstreams, on the same sockets and loops as the server.
        .target(name: "Upstream", dependencies: ["Sockets", "TLS", "HTTP1Codec", "OpenAIWire"]),
        // The primary → critique pipeline: knows nothing of sockets.
        .target(name: "Pipeline", dependencies: ["OpenAIWire", "Upstream"]),
        // The application: configuration, model registry, routes, logging, CLI.
        .target(name: "HydraCodeDone", dependencies: ["HTTPServer", "Sockets", "OpenAIWire", "Upstream", "Pipeline"]),
        .executableTarget(name: "hydracodedone", dependencies: ["HydraCodeDone"]),
        // A scriptable OpenAI-compatible upstream for tests and benchmarks (real wire format, real socket).
        .target(name: "FakeUpstream", dependencies: ["HTTPServer", "Sockets", "TLS", "OpenAIWire"], exclude: ["README.md"]),
        .executableTarget(name: "fake-upstream", dependencies: ["FakeUpstream"]),
        // Blocking raw-socket HTTP client shared by the test targets.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "Sockets", "HTTP1Codec", "TestSupport"]),
        .testTarget(name: "OpenAIWireTests", dependencies: ["OpenAIWire", "TestSupport"]),
        .testTarget(name: "UpstreamTests", dependencies: ["Upstream", "FakeUpstream", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "FakeUpstream", "TestSupport"]),
        .testTarget(name: "HydraCodeDoneTests", dependencies: ["HydraCodeDone", "FakeUpstream", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
