import BusinessCalendar
import DisputeWorkflow
import Foundation
import NoticeSpool
@testable import DisputeDaemon
@testable import DisputeStore

/// The repository's root, for its calendars and templates.
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A store and a dispatcher in a fresh directory (returned, for removal), with
/// the real templates of the repository.
func storeAndDispatcher() throws -> (DisputeStore, NoticeDispatcher, String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("daemon-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let store = try DisputeStore(path: directory + "/disputed.sqlite")
    let dispatcher = NoticeDispatcher(
        writer: SpoolWriter(directory: directory + "/spool"),
        templates: try NoticeTemplates.load(directory: repository.appendingPathComponent("Notifications").path, overrideDirectory: nil),
        from: try MailAddress(parsing: "Disputes <disputes@test.invalid>", field: "spool.from"), domain: "test.invalid")
    try dispatcher.writer.prepare()
    return (store, dispatcher, directory)
}

/// The calendars of the repository, compiled once for every test.
func repositoryCalendars() throws -> [String: BusinessCalendar] { try compiledCalendars.get() }
private let compiledCalendars = Result { try CalendarLoader.loadDirectory(repository.appendingPathComponent("config/calendars").path) }

/// A dispute as `dispute.open` makes it for `merchant` on 2027-01-11.
func openedDispute(_ id: String, merchant: Merchant) throws -> Dispute {
    let sek = Currency(code: "SEK")!
    return try DisputeWorkflow.open(
        OpenRequest(id: id, orderReference: "O-\(id)", orderAmount: Money(decimal: "899.00", currency: sek)!,
                    disputedAmount: Money(decimal: "499.00", currency: sek)!, reason: .faulty),
        merchant: merchant, now: 1_799_658_000, policy: DisputePolicy(), calendar: try repositoryCalendars()["SE"]!).dispute
}

/// Polls `condition` until it holds or `within` passes; whether it held.
func waitUntil(within: Duration = .seconds(10), _ condition: () throws -> Bool) async throws -> Bool {
    let until = ContinuousClock.now + within
    while ContinuousClock.now < until {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(5))
    }
    return try condition()
}
