import Glibc
import Testing
@testable import DisputeDaemon

@Suite struct AuthorizerTests {
    @Test func rootMayDoEverything() {
        let a = Authorizer(adminGroup: "", readerGroup: "", daemonUID: 4242)
        #expect(a.role(of: PeerCredentials(pid: 1, uid: 0, gid: 0)) == .admin)
    }

    @Test func theDaemonsOwnUserMayDoEverything() {
        let a = Authorizer(adminGroup: "", readerGroup: "", daemonUID: 4242)
        #expect(a.role(of: PeerCredentials(pid: 1, uid: 4242, gid: 4242)) == .admin)
    }

    @Test func aStrangerWithoutGroupsGetsNothing() {
        let a = Authorizer(adminGroup: "root", readerGroup: "root", daemonUID: 0)
        // nobody (65534) is in neither group.
        #expect(a.role(of: PeerCredentials(pid: 1, uid: 65534, gid: 65534)) == .none)
    }

    @Test func primaryGroupMembershipGrantsTheGroupsRole() {
        let a = Authorizer(adminGroup: "", readerGroup: "nogroup", daemonUID: 0)
        #expect(a.role(of: PeerCredentials(pid: 1, uid: 65534, gid: 65534)) == .reader)
    }
}

@Suite struct UserDatabaseTests {
    /// The names and ids of the user and group databases, from many threads
    /// at once (requests are served on several; the plain getpwuid/getgrnam
    /// share one buffer between them).
    @Test func namesAndIdsAreRightWhenLookedUpFromManyThreadsAtOnce() async {
        let answers = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<64 {
                group.addTask {
                    i % 2 == 0
                        ? UserDatabase.userName(of: 0) == "root" && UserDatabase.userName(of: 65534) == "nobody"
                        : UserDatabase.groupID(named: "root") == 0 && UserDatabase.groupID(named: "nogroup") == 65534
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(answers.count == 64 && answers.allSatisfy { $0 })
    }

    @Test func unknownUsersAndGroupsAreNil() {
        #expect(UserDatabase.userName(of: 3_999_999_999) == nil)
        #expect(UserDatabase.groupID(named: "no-such-group-of-disputed") == nil)
        #expect(UserDatabase.groupID(named: "") == nil)
    }

    /// The timeline's name for a peer: the user and the uid, or the uid alone.
    @Test func aPeerIsNamedByUserAndUid() {
        #expect(PeerCredentials(pid: 1, uid: 0, gid: 0).actor == "root (uid 0)")
        #expect(PeerCredentials(pid: 1, uid: 3_999_999_999, gid: 0).actor == "uid 3999999999")
    }
}
