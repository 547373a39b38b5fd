import DisputeStore
import DisputeWorkflow
import Foundation
import NoticeSpool

/// Turns committed e-mail notices into spool files: template, MIME message,
/// atomic write. The outbox row is marked only after the file is in `new/`;
/// a crash in between is repaired by finding the file under its name.
struct NoticeDispatcher: Sendable {
    let writer: SpoolWriter
    let templates: NoticeTemplates
    let from: MailAddress
    let domain: String

    static func make(_ c: Configuration) throws -> NoticeDispatcher {
        var gid: UInt32? = nil
        if !c.spool.group.isEmpty {
            guard let g = UserDatabase.groupID(named: c.spool.group) else {
                throw DaemonError.spool(message: "spool.group '\(c.spool.group)' does not exist (create it, or leave spool.group empty)")
            }
            gid = g
        }
        let templates = try NoticeTemplates.load(directory: c.notices.templateDirectory,
                                                 overrideDirectory: c.notices.overrideDirectory.isEmpty ? nil : c.notices.overrideDirectory)
        return NoticeDispatcher(writer: SpoolWriter(directory: c.spool.directory, groupID: gid), templates: templates,
                                from: try MailAddress(parsing: c.spool.fromAddress, field: "spool.from"), domain: c.spool.messageIDDomain)
    }

    /// The complete message of a notice.
    func message(_ notice: StoredNotice, merchant: Merchant) throws -> [UInt8] {
        let rendered = templates.render(notice.kind, locale: merchant.locale, context: notice.context)
        let to = try MailAddress(displayName: merchant.legalName, address: merchant.email, field: "merchant e-mail")
        return try MIMEComposer.compose(MailMessage(
            from: from, to: to, subject: rendered.subject, date: notice.createdAt, messageID: "\(notice.id)@\(domain)",
            extraHeaders: [("X-Dispute-Id", notice.disputeID), ("X-Dispute-Notice-Kind", notice.kind.rawValue)],
            text: rendered.text, html: rendered.html))
    }
}
