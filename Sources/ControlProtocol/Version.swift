/// The version both executables report.
public let disputedVersion = "0.1.0"
