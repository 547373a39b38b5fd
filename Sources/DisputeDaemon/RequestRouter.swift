import ControlProtocol
import DisputeStore
import Foundation
import Logging

/// Dispatches control operations to the parts of the daemon that answer them.
final class RequestRouter: ControlRequestHandler {
    let state: DaemonState

    init(state: DaemonState) {
        self.state = state
    }

    func handle(_ request: ControlRequest, operation: ControlOperation, peer: PeerCredentials) async -> ControlResponse {
        do {
            let result: JSONValue
            switch operation {
            case .status:
                result = try JSONValue.from(try state.status())
            case .configReload:
                let outcome = state.reload(trigger: "control request from uid \(peer.uid)")
                switch outcome {
                case let .success(loadedAt):
                    result = .object(["reloaded": .bool(true), "configLoadedAt": .string(loadedAt)])
                case let .failure(error):
                    return .failure(id: request.id, ControlError(.conflict, "new configuration rejected, the old one stays in force:\n\(error)"))
                }
            case .clockAdvance:
                guard state.clock.mode == .simulated else {
                    return .failure(id: request.id, ControlError(.forbidden, "clock.advance works only on a daemon started with --simulated-clock"))
                }
                guard let seconds = request.args["seconds"]?.intValue, seconds >= 0 else {
                    return .failure(id: request.id, ControlError(.badRequest, "clock.advance needs 'seconds', a non-negative integer"))
                }
                let now = state.clock.advance(by: TimeInterval(seconds))!
                result = .object(["now": .string(Instant.format(now))])
            default:
                return .failure(id: request.id, ControlError(.unavailable, "'\(operation.rawValue)' is not served by this daemon version (\(disputedVersion))"))
            }
            return .success(id: request.id, result: result)
        } catch {
            state.logger.error("request failed", metadata: ["op": "\(operation.rawValue)", "error": "\(error)"])
            return .failure(id: request.id, ControlError(.internal, "\(error)"))
        }
    }
}
