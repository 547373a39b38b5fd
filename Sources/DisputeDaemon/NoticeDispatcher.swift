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

    /// `forThisProcess`: the daemon itself (at start and at a reload) also
    /// checks that it may give its files `spool.group`; `--check-config`, run
    /// by whoever checks, does not.
    static func make(_ c: Configuration, forThisProcess: Bool = true) throws -> NoticeDispatcher {
        var gid: UInt32? = nil
        if !c.spool.group.isEmpty {
            guard let g = getgrnam(c.spool.group) else {
                throw DaemonError.spool(message: "spool.group '\(c.spool.group)' does not exist (create it, or leave spool.group empty)")
            }
            gid = g.pointee.gr_gid
            if forThisProcess && !Self.mayGiveFiles(toGroup: g.pointee.gr_gid) {
                let user = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())"
                throw DaemonError.spool(message: "spool.group '\(c.spool.group)': disputed runs as \(user), which is not a member, "
                    + "so its spool files could not be given that group (add the group to the user or to the unit's "
                    + "SupplementaryGroups=, or leave spool.group empty)")
            }
        }
        let templates = try NoticeTemplates.load(directory: c.notices.templateDirectory,
                                                 overrideDirectory: c.notices.overrideDirectory.isEmpty ? nil : c.notices.overrideDirectory)
        return NoticeDispatcher(writer: SpoolWriter(directory: c.spool.directory, groupID: gid), templates: templates,
                                from: try MailAddress(parsing: c.spool.fromAddress, field: "spool.from"), domain: c.spool.messageIDDomain)
    }

    /// Whether this process may give its files group `gid` (chown): root, or a
    /// member of it (its own group or a supplementary one).
    static func mayGiveFiles(toGroup gid: gid_t) -> Bool {
        if geteuid() == 0 || getegid() == gid { return true }
        let count = getgroups(0, nil)
        guard count > 0 else { return false }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let filled = getgroups(count, &groups)
        return groups.prefix(Int(max(filled, 0))).contains(gid)
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
