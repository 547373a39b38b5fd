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
