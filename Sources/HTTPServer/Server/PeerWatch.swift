import Sockets

/// Watches a client's socket while its request is handled: keeps the bytes a pipelining client
/// sends meanwhile, and reports the client hanging up so its request's work can be cancelled.
enum PeerWatch {
    /// Pipelined bytes held while a request is handled; past this, reading stops.
    static let bytesCap = 1 << 20
    /// How often a connection that stopped reading checks its client anyway (a safety net: the
    /// event loop reports a FIN or RST as it arrives).
    static let hangUpCheckInterval: Duration = .milliseconds(250)

    /// Runs until cancelled (`hungUp` false) or until the client hangs up (`hungUp` true).
    static func watch(_ socket: AsyncSocket) async -> (bytes: [UInt8], hungUp: Bool) {
        var collected: [UInt8] = []
        while collected.count < bytesCap {
            do {
                let bytes = try await socket.read()
                if bytes.isEmpty { return (collected, true) }
                collected.append(contentsOf: bytes)
            } catch is CancellationError {
                return (collected, false)
            } catch {
                return (collected, true)
            }
        }
        return (collected, await waitForHangUp(socket))
    }

    /// With the cap reached, reading on would hold unbounded memory. The kernel still sees a FIN
    /// or RST arrive behind the unread bytes: ask it whenever the socket signals something (new
    /// bytes, a FIN, a reset) or the interval passes. Unread bytes shrink the client's window to
    /// nothing, so signals stop coming: no busy loop.
    private static func waitForHangUp(_ socket: AsyncSocket) async -> Bool {
        while true {
            do {
                try await socket.waitReadable(deadline: ContinuousClock.now.advanced(by: hangUpCheckInterval))
            } catch is CancellationError {
                return false
            } catch SocketError.timedOut {
                // Checked below all the same.
            } catch {
                return true
            }
            if socket.socket.peerHasClosed() { return true }
        }
    }
}
