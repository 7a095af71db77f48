//! Real test hosts: a network namespace per host, a `unshare -n` process per
//! guest. Guards delete what they made even when a test panics, and names are
//! unique per process and test so leftovers of a killed run never collide.

#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub fn require_root() {
    assert!(nix_is_root(), "these tests build network namespaces and must run as root (see README: scripts/test)");
}

fn nix_is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}x{}", std::process::id() % 100000, SEQ.fetch_add(1, Ordering::SeqCst))
}

pub fn sh(cmd: &str) -> Output {
    Command::new("sh").arg("-c").arg(cmd).output().expect("running sh")
}

/// Run and insist on success; returns stdout.
pub fn ok(cmd: &str) -> String {
    let o = sh(cmd);
    assert!(o.status.success(), "`{cmd}` failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A shell command run through a namespace-entering prefix.
fn sh_in(prefix: &str, cmd: &str) -> Output {
    sh(&format!("{prefix} sh -c '{}'", cmd.replace('\'', "'\\''")))
}

fn ok_in(prefix: &str, cmd: &str) -> String {
    let o = sh_in(prefix, cmd);
    assert!(o.status.success(), "`{prefix} {cmd}` failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A host: a network namespace of its own, deleted on drop.
pub struct Host {
    pub ns: String,
}

impl Host {
    pub fn new() -> Host {
        require_root();
        let ns = unique("pwt");
        let _ = sh(&format!("ip netns del {ns} 2>/dev/null"));
        ok(&format!("ip netns add {ns} && ip -n {ns} link set lo up"));
        Host { ns }
    }

    /// A shell command inside this host.
    pub fn run(&self, cmd: &str) -> Output {
        sh_in(&format!("ip netns exec {}", self.ns), cmd)
    }

    pub fn ok(&self, cmd: &str) -> String {
        ok_in(&format!("ip netns exec {}", self.ns), cmd)
    }

    /// Our binary, run inside this host.
    pub fn pipework(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, env!("CARGO_BIN_EXE_pipework")])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running pipework")
    }

    pub fn guest(&self) -> Guest {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "unshare", "-n", "sleep", "600"])
            .stdin(Stdio::null())
            .spawn()
            .expect("starting a guest");
        // `ip netns exec` execs unshare, which execs sleep: same PID, but the
        // new namespace only exists once unshare has run.
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mine = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
            let hosts = std::fs::read_link(format!("/var/run/netns/{}", self.ns)).ok();
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" && mine.is_some() && mine != hosts {
                break;
            }
            assert!(Instant::now() < deadline, "guest {pid} never got its own namespace");
            sleep(Duration::from_millis(5));
        }
        Guest { child, pid }
    }

    /// Everything `ip` can tell about this host's network.
    pub fn state(&self) -> String {
        ns_state(&format!("ip -n {}", self.ns))
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = sh(&format!("ip netns pids {0} | xargs -r kill -9; ip netns del {0}", self.ns));
    }
}

/// A container stand-in: a process in a network namespace of its own.
pub struct Guest {
    child: Child,
    pub pid: u32,
}

impl Guest {
    pub fn id(&self) -> String {
        self.pid.to_string()
    }

    pub fn run(&self, cmd: &str) -> Output {
        sh_in(&format!("nsenter -t {} -n", self.pid), cmd)
    }

    pub fn ok(&self, cmd: &str) -> String {
        ok_in(&format!("nsenter -t {} -n", self.pid), cmd)
    }

    pub fn state(&self) -> String {
        ns_state(&format!("nsenter -t {} -n ip", self.pid))
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ns_state(ip: &str) -> String {
    // Bridge timers tick, IPv6 DAD flags clear and operstates catch up with
    // carrier by themselves (link flags are still compared): not changes.
    // Nor is what the kernel's IPv6 autoconfiguration adds on a link that
    // came up a moment before (its fe80:: address and routes, the ff00::/8
    // multicast route): it lands whenever the kernel gets to it, which on
    // a busy machine can fall between two snapshots.
    ok(&format!(
        "({ip} -d -o link show; {ip} -o addr show; {ip} route show table all; {ip} -6 route show table all) \
         | sed -E '/(^| )fe80::|ff00::\\/8/d; s/[a-z_]+_timer +[0-9.]+//g; s/ tentative//g; s/ state [A-Z]+ / /'"
    ))
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
