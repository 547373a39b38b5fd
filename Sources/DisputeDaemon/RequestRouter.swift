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
        switch operation {
        case .status:
            do {
                return .success(id: request.id, result: try JSONValue.from(try await state.status()))
            } catch {
                let message = state.store.explain(error)
                state.logger.error("status failed", metadata: ["error": "\(message)"])
                return .failure(id: request.id, ControlError(.internal, message))
            }
        case .configReload:
            switch await state.reload(trigger: "control request from uid \(peer.uid)") {
            case let .success(loadedAt):
                return .success(id: request.id, result: .object(["reloaded": .bool(true), "configLoadedAt": .string(loadedAt)]))
            case let .failure(error):
                return .failure(id: request.id, ControlError(.conflict, "new configuration rejected, the old one stays in force:\n\(error)"))
            }
        case .noticeShow:
            // The message as the spool gets it: rendered from the notice's
            // stored values with the templates and merchant of now (the
            // templates live with the spooler).
            do {
                let (notice, merchant) = try await state.engine.noticeToShow(Arguments(request.args))
                let message = try await state.engine.spooler.dispatcher.message(notice, merchant: merchant)
                return .success(id: request.id, result: .object([
                    "notice": View.notice(notice), "dispute": .string(notice.disputeID),
                    "message": .string(String(decoding: message, as: UTF8.self))]))
            } catch let error as ControlError {
                return .failure(id: request.id, error)
            } catch {
                return .failure(id: request.id, ControlError(.unavailable, "the notice cannot be rendered: \(error)"))
            }
        case .clockAdvance:
            // Deadlines fired: the unit's status line says so at once, not a refresh later.
            let response = await state.engine.submit(request, operation, by: peer.actor)
            await state.refreshStatus()
            return response
        default:
            if operation.isWrite { return await state.engine.submit(request, operation, by: peer.actor) }
            return await state.engine.handle(request, operation, by: peer.actor)
        }
    }
}
