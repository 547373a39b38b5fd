import Foundation
import Testing
@testable import DisputeDaemon
import TOMLDocument

@Suite struct ConfigurationTests {
    static let minimal = """
        [daemon]
        state_directory = "/var/lib/disputed"
        [control]
        socket = "/run/disputed/control.sock"
        [spool]
        directory = "/var/spool/disputed/outgoing"
        from = "Disputes <d@example.com>"
        message_id_domain = "example.com"
        """

    private func problems(_ text: String) -> [String] {
        do {
            _ = try Configuration.parse(text: text, file: "c.toml")
            return []
        } catch let error as TOMLDiagnostics {
            return error.diagnostics.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    @Test func minimalConfigurationGetsThePolicyDefaults() throws {
        let c = try Configuration.parse(text: Self.minimal, file: "c.toml")
        #expect(c.policy.responseBusinessDays == 14)
        #expect(c.policy.extendedResponseBusinessDays == 21)
        #expect(c.policy.extendedReasons == ["notReceived", "returned"])
        #expect(c.policy.reminderBusinessDaysBefore == [5, 1])
        #expect(c.policy.cutoffMinutes == 960)
        #expect(c.storePath == "/var/lib/disputed/disputed.sqlite")
        #expect(c.daemon.requestRetentionDays == 90)
    }

    @Test func aRequestRetentionOutsideItsRangeIsNamed() {
        let found = problems(Self.minimal.replacingOccurrences(of: "[daemon]\n", with: "[daemon]\nrequest_retention_days = 0\n"))
        #expect(found.count == 1 && found[0].contains("'daemon.request_retention_days' is 0, must be between 1 and 3650"), "\(found)")
    }

    /// Closed disputes are kept for ever unless asked, and never removed
    /// while a retried request could still answer about them.
    @Test func closedRetentionIsOffByDefaultAndNoShorterThanTheRequestRetention() throws {
        #expect(try Configuration.parse(text: Self.minimal, file: "c.toml").daemon.closedRetentionDays == 0)
        let set = { (lines: String) in Self.minimal.replacingOccurrences(of: "[daemon]\n", with: "[daemon]\n" + lines) }
        #expect(try Configuration.parse(text: set("closed_retention_days = 2555\n"), file: "c.toml").daemon.closedRetentionDays == 2555)
        #expect(try Configuration.parse(text: set("closed_retention_days = 30\nrequest_retention_days = 30\n"), file: "c.toml")
            .daemon.closedRetentionDays == 30)
        let found = problems(set("closed_retention_days = 30\n"))
        #expect(found.count == 1 && found[0].hasPrefix("c.toml:2: 'daemon.closed_retention_days' is 30, shorter than daemon.request_retention_days (90)"),
                "\(found)")
    }

    @Test func shippedConfigurationsAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["config/dev.toml", "config/disputed.toml"] {
            let c = try Configuration.load(path: root.appendingPathComponent(name).path)
            #expect(!c.control.socketPath.isEmpty)
        }
    }

    @Test func unknownKeyNamesFileKeyAndLine() {
        #expect(problems(Self.minimal + "\nspeling = 1\n") == ["c.toml:9: unknown key 'spool.speling' in [spool]"])
    }

    @Test func unknownTableIsReported() {
        #expect(problems(Self.minimal + "\n[extra]\nx = 1\n") == ["c.toml:9: unknown key 'extra' in the top level"])
    }

    @Test func missingRequiredKeyIsNamed() {
        let text = Self.minimal.replacingOccurrences(of: "from = \"Disputes <d@example.com>\"\n", with: "")
        #expect(problems(text) == ["c.toml:5: missing required key 'spool.from' in [spool]"])
    }

    @Test func impossiblePolicyValuesAreRefused() {
        let found = problems(Self.minimal + """

            [policy]
            response_business_days = 0
            extended_reasons = ["lost"]
            cutoff = "4pm"
            """)
        #expect(found.count == 3)
        #expect(found[0] == "c.toml:10: 'policy.response_business_days' is 0, must be between 1 and 60")
        #expect(found[1].hasPrefix("c.toml:11: 'policy.extended_reasons' names unknown reason \"lost\""))
        #expect(found[2] == "c.toml:12: 'policy.cutoff' is \"4pm\", must be a local time HH:MM between 00:00 and 23:59")
    }

    @Test func theSenderAndTheMessageIDDomainAreCheckedAsTheSpoolerWillUseThem() {
        func spool(from: String = "Disputes <d@example.com>", domain: String = "example.com") -> [String] {
            problems(Self.minimal.replacingOccurrences(of: "from = \"Disputes <d@example.com>\"", with: "from = \"\(from)\"")
                .replacingOccurrences(of: "message_id_domain = \"example.com\"", with: "message_id_domain = \"\(domain)\""))
        }
        #expect(spool(from: "Disputes <d@example.com") == ["c.toml:7: 'spool.from' is \"Disputes <d@example.com\", which is not one e-mail address such as Disputes <disputes@example.com>"])
        #expect(spool(from: "a@example.com, b@example.com").count == 1)
        #expect(spool(from: "a@example.com\\r\\nBcc: b@example.com").count == 1)
        #expect(spool(from: "Tvister på Åsa <d@example.com>").isEmpty)
        for bad in ["", "a..b", ".example.com", "example.com.", "-a.example", "a-.example", "dispüte.example", "a_b.example",
                    String(repeating: "a", count: 64) + ".example"] {
            #expect(spool(domain: bad).first?.hasPrefix("c.toml:8: 'spool.message_id_domain' is \"\(bad)\", which is not a domain name") == true, "\(bad)")
        }
        for good in ["example.com", "disputes.dev.invalid", "x", "a-b.c0.example", String(repeating: "a", count: 63) + ".example"] {
            #expect(spool(domain: good).isEmpty, "\(good)")
        }
    }

    @Test func theExtendedWindowIsNoShorterThanTheUsualOne() {
        #expect(problems(Self.minimal + "\n[policy]\nresponse_business_days = 21\nextended_response_business_days = 14\n")
                == ["c.toml:11: 'policy.extended_response_business_days' (14) is shorter than 'policy.response_business_days' (21)"])
    }

    @Test func remindersMustFallInsideTheWindow() {
        let found = problems(Self.minimal + "\n[policy]\nresponse_business_days = 5\nreminder_business_days_before = [5]\n")
        #expect(found.count == 1)
        #expect(found.first?.contains("not before the end of a 5-day response window") == true)
    }

    @Test func socketPathLongerThanSunPathIsRefused() {
        let long = "/run/" + String(repeating: "x", count: 120)
        let text = Self.minimal.replacingOccurrences(of: "/run/disputed/control.sock", with: long)
        #expect(problems(text).first?.contains("at most 107") == true)
    }
}
