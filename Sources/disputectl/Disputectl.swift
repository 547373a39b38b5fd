import ArgumentParser
import ControlProtocol
import Foundation

/// Exit codes of interfaces.md.
enum CtlExit {
    static let refused: Int32 = 1
    /// `status --check` found a problem (monitoring plugins' CRITICAL).
    static let unhealthy: Int32 = 2
    static let unavailable: Int32 = 69
}

@main
enum DisputectlMain {
    static func main() {
        let commands = Set(Disputectl.configuration.subcommands.map { $0._commandName } + ["help"])
        Disputectl.main(hoistingGlobalOptions(Array(CommandLine.arguments.dropFirst()), commands: commands))
    }
}

/// interfaces.md writes the global options first (`disputectl --socket S --json status`);
/// ArgumentParser reads options only on the subcommand that declares them, so the
/// leading global options are moved behind the subcommand's words. When what
/// follows them is no command (`disputectl --socket S explain`), they are left
/// out instead, so that the usage error names that word, not `--socket`.
func hoistingGlobalOptions(_ arguments: [String], commands: Set<String>) -> [String] {
    var globals: [String] = []
    var index = 0
    while index < arguments.count {
        let argument = arguments[index]
        if argument == "--json" {
            globals.append(argument)
            index += 1
        } else if argument == "--socket" || argument == "--calendars" {
            globals.append(argument)
            if index + 1 < arguments.count { globals.append(arguments[index + 1]) }
            index += 2
        } else if argument.hasPrefix("--socket=") || argument.hasPrefix("--calendars=") {
            globals.append(argument)
            index += 1
        } else {
            break
        }
    }
    let rest = Array(arguments[index...])
    guard !globals.isEmpty, !rest.isEmpty else { return arguments }
    guard commands.contains(rest[0]) else { return rest }
    // Keep a `--` terminator and what follows it last.
    if let terminator = rest.firstIndex(of: "--") {
        return Array(rest[..<terminator]) + globals + Array(rest[terminator...])
    }
    return rest + globals
}

struct Disputectl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disputectl",
        abstract: "Query and drive the disputed daemon over its control socket.",
        discussion: """
        The socket is --socket, else $DISPUTED_SOCKET, else /run/disputed/control.sock.
        Exit codes: 0 done, 1 refused by the daemon, 2 status --check found a problem,
        64 usage error, 69 daemon not reachable.
        """,
        version: disputedVersion,
        subcommands: [Status.self, MerchantCommand.self, Open.self, List.self, Show.self, Respond.self, Resolve.self,
                      Withdraw.self, Refunded.self, Cancelled.self, Statement.self, Evidence.self, Decide.self,
                      NoticeCommand.self, Deadlines.self, CalendarCommand.self, Clock.self, Reload.self])
}

/// Options every command that talks to the daemon shares.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Control socket of the daemon.", valueName: "path"))
    var socket: String?

    @Flag(name: .long, help: "Print the response's result (or error) as one JSON document.")
    var json = false

    var socketPath: String {
        socket ?? ProcessInfo.processInfo.environment["DISPUTED_SOCKET"] ?? "/run/disputed/control.sock"
    }

    /// Sends one request; prints the error and exits 1 or 69 when it does not succeed.
    func call(_ op: ControlOperation, _ args: [String: JSONValue] = [:], requestID: String? = nil) throws -> JSONValue {
        var client: ControlClient? = nil
        defer { client?.close() }
        return try call(op, args, requestID: requestID, on: &client)
    }

    /// A listing (`dispute.list`, `deadlines.upcoming`, `merchant.list`) read
    /// page by page on one connection, each request's `after` the `next` of the
    /// answer before, until it has `limit` rows or the listing ends. The answer
    /// has the shape of one page: the first page's other fields (`now`), every
    /// row under `key`, and `more` when rows beyond `limit` match.
    func listing(_ op: ControlOperation, _ args: [String: JSONValue], key: String, limit: Int = .max) throws -> JSONValue {
        var client: ControlClient? = nil
        defer { client?.close() }
        var args = args
        var answer: [String: JSONValue]? = nil
        var rows: [JSONValue] = []
        var more = false
        repeat {
            args["limit"] = .int(Int64(min(limit - rows.count, 100_000)))
            guard case let .object(page) = try call(op, args, on: &client) else { break }
            if answer == nil { answer = page }
            let taken = page[key]?.arrayValue ?? []
            rows += taken
            more = page["more"]?.boolValue == true
            // A page without rows would ask for the same page again: stop, saying more match.
            guard more, !taken.isEmpty, let next = page["next"]?.stringValue else { break }
            args["after"] = .string(next)
        } while rows.count < limit
        var whole = answer ?? [:]
        whole[key] = .array(rows)
        whole["more"] = .bool(more)
        whole["next"] = nil
        return .object(whole)
    }

    /// ``call(_:_:requestID:)`` on a connection kept across calls (the first opens it).
    func call(_ op: ControlOperation, _ args: [String: JSONValue], requestID: String? = nil, on client: inout ControlClient?) throws -> JSONValue {
        let id = requestID ?? UUID().uuidString.lowercased()
        let response: ControlResponse
        do {
            if client == nil { client = try ControlClient(socketPath: socketPath) }
            response = try client!.send(ControlRequest(id: id, op: op.rawValue, args: .object(args)))
        } catch let error as UnreachableError {
            if json {
                printJSON(.object(["code": .string("unavailable"), "message": .string(error.description)]))
            }
            printStderr("disputectl: \(error)")
            throw ExitCode(CtlExit.unavailable)
        }
        if let error = response.error, !response.ok {
            if json {
                printJSON(try JSONValue.from(error))
            } else {
                printStderr("disputectl: \(op.rawValue) refused (\(error.code.rawValue)): \(error.message)")
            }
            throw ExitCode(CtlExit.refused)
        }
        return response.result ?? .null
    }
}

func printJSON(_ value: JSONValue) {
    print(value.prettyJSONText())
}

func printStderr(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
