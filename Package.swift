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
        // epoll, eventfd and accept4 are not exported by Glibc's Swift module.
        .target(name: "CSystem"),
        // Socket layer and HTTP/1.1 server: knows nothing of OpenAI.
        .target(name: "HTTPServer", dependencies: ["CSystem"]),
        // OpenAI wire values (JSON that keeps unknown fields, SSE framing, errors).
        .target(name: "OpenAIWire"),
        // Clients for OpenAI-compatible upstreams.
        .target(name: "Upstream", dependencies: ["HTTPServer", "OpenAIWire"]),
        // The primary → critique pipeline: knows nothing of sockets.
        .target(name: "Pipeline", dependencies: ["OpenAIWire", "Upstream"]),
        // The application: configuration, model registry, routes, logging, CLI.
        .target(name: "HydraCodeDone", dependencies: ["HTTPServer", "OpenAIWire", "Upstream", "Pipeline"]),
        .executableTarget(name: "hydracodedone", dependencies: ["HydraCodeDone"]),
        // A scriptable OpenAI-compatible upstream for tests and benchmarks (real wire format, real socket).
        .target(name: "FakeUpstream", dependencies: ["HTTPServer", "OpenAIWire"], exclude: ["README.md"]),
        .executableTarget(name: "fake-upstream", dependencies: ["FakeUpstream"]),
        // Blocking raw-socket HTTP client shared by the test targets.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "TestSupport"]),
        .testTarget(name: "OpenAIWireTests", dependencies: ["OpenAIWire", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "FakeUpstream"]),
        .testTarget(name: "HydraCodeDoneTests", dependencies: ["HydraCodeDone", "FakeUpstream", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
