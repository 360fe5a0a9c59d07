import FakeUpstream
import Foundation

// fake-upstream [--host 127.0.0.1] [--port 0]: prints "listening on HOST:PORT", serves until SIGTERM/SIGINT.
exit(await FakeUpstreamCommand.run(Array(CommandLine.arguments.dropFirst())))
