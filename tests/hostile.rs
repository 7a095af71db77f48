//! What an attacker, a killed run or an unusual host throws at pipework:
//! each case once broke it, and each must hold now.

mod common;

use common::*;

/// `ip link add veth1plPID type veth peer name eth1 netns PID; pipework
/// --detach PID` where Open vSwitch died and left its socket behind (no
/// ovsdb-server answers there): the veth is no OVS port, and it goes.
#[test]
fn detach_removes_a_plain_veth_while_ovs_is_down() {
    let host = Host::new();
    let guest = host.guest();
    let g = guest.id();
    host.ok(&format!("ip link add veth1pl{g} type veth peer name eth1 netns {g}"));
    let rundir = std::env::temp_dir().join(format!("pw-deadovs-{g}"));
    std::fs::create_dir_all(&rundir).unwrap();
    drop(std::os::unix::net::UnixListener::bind(rundir.join("db.sock")).unwrap());

    let out = host.run(&format!("OVS_RUNDIR={} {} --detach {g}", rundir.display(), env!("CARGO_BIN_EXE_pipework")));
    std::fs::remove_dir_all(&rundir).unwrap();

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!host.state().contains(&format!("veth1pl{g}")), "the veth is still there");
    assert!(!guest.state().contains("eth1"), "eth1 is still in the guest");
}

/// A user who may not enter the guest's namespace gets an error, not
/// "nothing to detach" with exit 0.
#[test]
fn detach_without_root_is_an_error() {
    let host = Host::new();
    let guest = host.guest();
    let out = host.run(&format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups {} --detach {}",
        env!("CARGO_BIN_EXE_pipework"),
        guest.id()
    ));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("needs root"), "{}", stderr(&out));
}

/// A pid file this run did not write names some other process: a failing
/// DHCP attach must not signal it.
#[test]
fn a_stale_pid_file_never_gets_a_process_killed() {
    let host = Host::new();
    let guest = host.guest();
    let g = guest.id();
    let mut bystander = std::process::Command::new("sleep").arg("1000").spawn().expect("starting sleep");
    let pid_file = format!("/var/run/udhcpc.{g}.pid");
    std::fs::write(&pid_file, format!("{}\n", bystander.id())).unwrap();

    let out = host.pipework(&["br1", &g, "udhcpc:--bogus"]);

    let alive = bystander.try_wait().unwrap().is_none();
    let _ = bystander.kill();
    let _ = bystander.wait();
    let _ = std::fs::remove_file(&pid_file);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(alive, "pipework killed a process named by a pid file it did not write");
}

/// Names cut to 15 bytes are cut between characters: a multi-byte -i once
/// panicked (exit 101).
#[test]
fn multi_byte_interface_names_are_no_crash() {
    let host = Host::new();
    let guest = host.guest();
    host.ok("ip link add lan0 type veth peer name lan0p");
    for name in ["ééééééé", "aéééééé"] {
        let out = host.pipework(&["--dry-run", "lan0", "-i", name, &guest.id(), "10.0.0.2/24"]);
        assert_eq!(out.status.code(), Some(0), "-i {name}: {}", stderr(&out));
        assert!(stdout(&out).contains(&format!("name {name}")), "{}", stdout(&out));
    }
}
