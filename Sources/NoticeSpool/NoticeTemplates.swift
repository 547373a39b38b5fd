import DisputeWorkflow
import Foundation
import Mustache
import TOMLDocument

/// A template problem found at load time (`--check-config` and start), never at send time.
public struct TemplateError: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let message: String
    public var description: String { "\(file): \(message)" }
}

/// The notice templates: for every notice kind and locale a subject, a plain-text
/// body and an HTML body (`<dir>/<kind>/<locale>/{subject,text,html}.mustache`).
///
/// A template in the override directory replaces the shipped one of the same
/// kind, locale and part; the parts it does not override stay the shipped ones.
/// Every template may use only the variables in ``variables``; a missing or
/// misspelt one is an error when the templates are loaded, so a mail never
/// goes out with an empty hole. English is required for every kind; a merchant
/// whose locale has no template gets English.
public struct NoticeTemplates: Sendable {
    /// The variables a template may use.
    public static let variables: Set<String> = [
        "merchantName", "disputeId", "orderReference", "amount", "orderAmount", "reason",
        "deadline", "hasDeadline", "refund", "hasRefund", "outcome",
    ]
    static let parts = ["subject", "text", "html"]

    struct Set3: Sendable {
        let subject: MustacheTemplate
        let text: MustacheTemplate
        let html: MustacheTemplate
    }

    let templates: [String: Set3]  // "<kind>/<locale>"
    public let locales: [String]

    /// Loads and checks every template. Throws every problem found.
    public static func load(directory: String, overrideDirectory: String?) throws -> NoticeTemplates {
        var problems: [TemplateError] = []
        var templates: [String: Set3] = [:]
        var locales: Set<String> = []
        let fm = FileManager.default
        // Without the shipped templates every kind would be reported missing on its own.
        if let reason = TextFile.unlistableDirectory(directory) {
            throw TemplateErrors([TemplateError(file: directory, message: "cannot read the template directory: \(reason)")])
        }
        // An override directory that does not exist overrides nothing (the shipped
        // configuration names /etc/disputed/Notifications, which an install does
        // not create); one that exists and cannot be read would be ignored silently.
        if let over = overrideDirectory, !over.isEmpty, let reason = TextFile.unlistableDirectory(over), !reason.missing {
            problems.append(TemplateError(file: over, message: "cannot read the template override directory: \(reason)"))
        }
        for kind in NoticeKind.allCases {
            // locale -> its folders, the override's first
            var found: [String: [String]] = [:]
            for root in [overrideDirectory, directory].compactMap({ $0 }).filter({ !$0.isEmpty }) {
                let folder = root + "/" + kind.rawValue
                for locale in ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted() where !locale.hasPrefix(".") {
                    found[locale, default: []].append(folder + "/" + locale)
                }
            }
            if found["en"] == nil {
                problems.append(TemplateError(file: directory + "/" + kind.rawValue + "/en", message: "missing: every notice kind needs English templates"))
            }
            for (locale, folders) in found.sorted(by: { $0.key < $1.key }) {
                var compiled: [MustacheTemplate] = []
                for part in parts {
                    // File by file: an override of one part (a subject) keeps the shipped others.
                    let candidates = folders.map { $0 + "/" + part + ".mustache" }
                    let file = candidates.first(where: { fm.fileExists(atPath: $0) }) ?? candidates[0]
                    let text: String
                    do { text = try TextFile.read(file) } catch {
                        problems.append(TemplateError(file: file, message: error.missing ? "missing" : "cannot be read: \(error)"))
                        continue
                    }
                    for name in unknownVariables(in: text) {
                        problems.append(TemplateError(file: file, message: "unknown variable '\(name)'; known: \(variables.sorted().joined(separator: ", "))"))
                    }
                    do {
                        compiled.append(try MustacheTemplate(string: text))
                    } catch {
                        problems.append(TemplateError(file: file, message: "not a valid Mustache template: \(error)"))
                    }
                }
                if compiled.count == 3 {
                    templates[kind.rawValue + "/" + locale] = Set3(subject: compiled[0], text: compiled[1], html: compiled[2])
                    locales.insert(locale)
                }
            }
        }
        if !problems.isEmpty { throw TemplateErrors(problems) }
        return NoticeTemplates(templates: templates, locales: locales.sorted())
    }

    /// The names used in `{{name}}`, `{{{name}}}`, `{{#name}}`, `{{^name}}`, `{{/name}}` tags that are not known.
    static func unknownVariables(in text: String) -> [String] {
        var unknown: [String] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            rest = rest[open.upperBound...]
            guard let close = rest.range(of: "}}") else { break }
            var tag = rest[..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            rest = rest[close.upperBound...]
            if tag.hasPrefix("!") || tag.hasPrefix("%") || tag.hasPrefix(">") { continue }  // comments, pragmas, partials
            if tag.hasPrefix("{") { tag = String(tag.dropFirst()); if rest.hasPrefix("}") { rest = rest.dropFirst() } }
            for sigil in ["#", "^", "/", "&"] where tag.hasPrefix(sigil) { tag = String(tag.dropFirst()) }
            tag = tag.trimmingCharacters(in: .whitespaces)
            if !variables.contains(tag) && !unknown.contains(tag) { unknown.append(tag) }
        }
        return unknown
    }

    /// The language of a locale (`de-AT` is `de`) whose templates and reason
    /// labels a notice uses when the locale itself has none. Norwegian written
    /// as `no` (the macrolanguage) or `nn` (Nynorsk) reads the Bokmål (`nb`)
    /// ones: closer than English.
    public static func language(of locale: String) -> String {
        let language = String(locale.prefix { $0 != "-" && $0 != "_" })
        return language == "no" || language == "nn" ? "nb" : language
    }

    /// Renders a notice in the merchant's locale (its language, else English).
    public func render(_ kind: NoticeKind, locale: String, context: [String: String]) -> (subject: String, text: String, html: String) {
        let language = Self.language(of: locale)
        let set = templates[kind.rawValue + "/" + locale] ?? templates[kind.rawValue + "/" + language] ?? templates[kind.rawValue + "/en"]!
        var values: [String: Any] = context.mapValues(TemplateText.init)
        values["hasDeadline"] = !(context["deadline"] ?? "").isEmpty
        values["hasRefund"] = !(context["refund"] ?? "").isEmpty
        let root = TemplateRoot(values: values)
        // A subject is one line: whatever a template or a value put there, newlines become spaces.
        let subject = set.subject.render(root).split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
        return (subject, set.text.render(root), set.html.render(root))
    }
}

/// A context value as swift-mustache sees it: rendered as its text at the
/// second type check, where a plain `String` went through half a dozen dynamic
/// casts and `String(describing:)` per variable. It renders as the string
/// would (escaped in `{{name}}`, as it is in `{{{name}}}`, present in a
/// section even when empty) and keeps the string's transforms.
struct TemplateText: MustacheCustomRenderable, MustacheTransformable {
    let renderText: String
    init(_ text: String) { renderText = text }
    var isNull: Bool { false }
    func transform(_ name: String) -> Any? { renderText.transform(name) }
}

/// The values of one notice: a plain type the renderer finds its children in
/// without the conditional-conformance checks a `[String: Any]` costs at every
/// variable. With ``TemplateText``, a notice renders in 55 µs instead of 68.
struct TemplateRoot: MustacheParent {
    let values: [String: Any]
    func child(named name: String) -> Any? { values[name] }
}

/// Every template problem, one a line.
public struct TemplateErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [TemplateError]
    public init(_ errors: [TemplateError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
