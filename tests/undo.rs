//! A step that fails for real, late in an attach, after devices were made and
//! routes changed: the run exits 1 and host and guest are exactly as before.

mod common;

use common::*;

fn assert_unchanged(before: &(String, String), host: &Host, guest: &Guest) {
    let after = (host.state(), guest.state());
    assert_eq!(before.0, after.0, "host changed");
    assert_eq!(before.1, after.1, "guest changed");
}

/// The guest already has an uplink, up0, and a default route through it.
fn give_old_default_route(guest: &Guest) {
    guest.ok("ip link add up0 type veth peer name up0p && ip link set up0p up && ip link set up0 up \
         && ip addr add 10.1.0.2/24 dev up0 && ip route add default via 10.1.0.1");
}

/// A guest sysctl that does not exist fails its step after the bridge, the
/// veth pair and the enslavement were made.
#[test]
fn failed_late_step_removes_veth_and_the_bridge_it_created() {
    let host = Host::new();
    let guest = host.guest();
    let before = (host.state(), guest.state());

    let out =
        host.pipework(&["brnew0", "--sysctl", "net.ipv4.conf.eth1.no_such_setting=1", &guest.id(), "2001:db8::5/64"]);

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("everything it had made was removed"), "{err}");
    assert!(err.contains("net.ipv4.conf.eth1.no_such_setting"), "{err}");
    assert_unchanged(&before, &host, &guest);
}

/// The same failure on a macvlan whose parent was down: the macvlan goes and
/// the parent is put down again.
#[test]
fn failed_macvlan_attach_restores_parent_state() {
    let host = Host::new();
    let guest = host.guest();
    host.ok("ip link add lan0 type veth peer name lan0p && ip link set lan0p up");
    let before = (host.state(), guest.state());

    let out =
        host.pipework(&["lan0", "--sysctl", "net.ipv4.conf.eth1.no_such_setting=1", &guest.id(), "2001:db8::7/64"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_unchanged(&before, &host, &guest);
    assert!(host.ok("ip -o link show lan0").contains("state DOWN"));
}

/// The guest already routes to the gateway through another interface, so the
/// host route to it cannot be added, after the old default route was deleted:
/// the old default comes back.
#[test]
fn failed_gateway_step_restores_the_old_default_route() {
    let host = Host::new();
    let guest = host.guest();
    give_old_default_route(&guest);
    guest.ok("ip route add 192.168.9.1 dev up0 scope link");
    let before = (host.state(), guest.state());
    assert!(before.1.contains("default via 10.1.0.1 dev up0"));

    let out = host.pipework(&["br1", &guest.id(), "10.0.0.2/24@192.168.9.1"]);

    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("route to gateway 192.168.9.1"), "{}", stderr(&out));
    assert_unchanged(&before, &host, &guest);
}

/// Undo never takes away what was there before the run: an existing bridge
/// stays, with its other ports.
#[test]
fn undo_leaves_an_existing_bridge_alone() {
    let host = Host::new();
    let ok_guest = host.guest();
    let bad_guest = host.guest();
    host.ok("ip link add br1 type bridge && ip link set br1 up");
    let out = host.pipework(&["br1", &ok_guest.id(), "10.0.0.2/24"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = (host.state(), bad_guest.state());

    let out =
        host.pipework(&["br1", "--sysctl", "net.ipv4.conf.eth1.no_such_setting=1", &bad_guest.id(), "2001:db8::9/64"]);

    assert_eq!(out.status.code(), Some(1));
    assert_unchanged(&before, &host, &bad_guest);
    assert!(host.ok("ip -o link show master br1").contains(&format!("veth1pl{}", ok_guest.id())));
}

/// The last fallible step of a macvlan attach, setting a down parent up,
/// fails after the default route was replaced: the old default comes back.
/// (A down macvlan cannot come up while an up sibling uses its MAC.)
#[test]
fn failed_parent_up_after_new_default_restores_the_old_one() {
    let host = Host::new();
    let guest = host.guest();
    host.ok("ip link add lan0 type veth peer name lan0p && ip link set lan0p up && ip link set lan0 up \
         && ip link add mvq link lan0 address 02:00:00:00:aa:01 type macvlan mode bridge && ip link set mvq up \
         && ip link add mvp link lan0 address 02:00:00:00:aa:01 type macvlan mode bridge");
    give_old_default_route(&guest);
    let before = (host.state(), guest.state());

    let out = host.pipework(&["mvp", &guest.id(), "10.2.0.2/24@10.2.0.1"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("setting mvp up"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("could not undo"), "{}", stderr(&out));
    assert_unchanged(&before, &host, &guest);
}
