/// The dispute policy in force when a dispute opens, pinned to it for life.
public struct DisputePolicy: Sendable, Codable, Equatable {
    public var responseBusinessDays: Int
    public var extendedResponseBusinessDays: Int
    public var extendedReasons: [DisputeReason]
    public var customerStatementBusinessDays: Int
    public var evidenceBusinessDays: Int
    public var reviewAlertBusinessDays: Int
    /// Business days before each merchant-facing deadline, descending.
    public var reminderBusinessDaysBefore: [Int]
    /// Minutes after local midnight.
    public var cutoffMinutes: Int
    /// Local time of day a reminder goes out, in minutes after midnight.
    /// Decision (workflow.md is silent): 09:00, the start of a business day.
    public var reminderMinutes: Int

    public init(responseBusinessDays: Int = 14, extendedResponseBusinessDays: Int = 21,
                extendedReasons: [DisputeReason] = [.notReceived, .returned],
                customerStatementBusinessDays: Int = 7, evidenceBusinessDays: Int = 10,
                reviewAlertBusinessDays: Int = 5, reminderBusinessDaysBefore: [Int] = [5, 1],
                cutoffMinutes: Int = 16 * 60, reminderMinutes: Int = 9 * 60) {
        self.responseBusinessDays = responseBusinessDays
        self.extendedResponseBusinessDays = extendedResponseBusinessDays
        self.extendedReasons = extendedReasons
        self.customerStatementBusinessDays = customerStatementBusinessDays
        self.evidenceBusinessDays = evidenceBusinessDays
        self.reviewAlertBusinessDays = reviewAlertBusinessDays
        self.reminderBusinessDaysBefore = reminderBusinessDaysBefore
        self.cutoffMinutes = cutoffMinutes
        self.reminderMinutes = reminderMinutes
    }

    public func responseWindow(for reason: DisputeReason) -> Int {
        extendedReasons.contains(reason) ? extendedResponseBusinessDays : responseBusinessDays
    }
}
