//! The door to programs run inside a guest's network namespace.
//!
//! DHCP clients also get a private mount and UTS namespace: their scripts
//! write /etc/resolv.conf and may set the hostname, and run in the host's
//! filesystem they would overwrite the host's resolver configuration (the
//! reference does exactly that). Here /etc/resolv.conf is covered by
//! /dev/null for them, and the hostname they see, and send, is the guest's.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// How much of the host the program may touch besides the guest's network.
pub enum Isolation {
    /// Only the network namespace changes (`ip`, `tc`).
    Network,
    /// A DHCP client: own mount and UTS namespaces, /etc/resolv.conf
    /// shielded, /sys showing the guest's devices, this hostname, and an
    /// empty tmpfs on each of `private_dirs` that exists (state the client
    /// keeps per interface name, which every guest's eth1 would share).
    Client { hostname: String, private_dirs: &'static [&'static str] },
}

/// `program` set up to run in the guest. The namespace file must stay open
/// until the command is spawned.
pub fn command(program: &Path, guest_ns: &File, isolation: Isolation) -> Command {
    let fd = guest_ns.as_fd().as_raw_fd();
    let (hostname, private_dirs) = match &isolation {
        Isolation::Network => (None, &[][..]),
        Isolation::Client { hostname, private_dirs } => {
            (Some(CString::new(hostname.replace('\0', "")).unwrap_or_default()), *private_dirs)
        }
    };
    let mut cmd = Command::new(program);
    if hostname.is_some() {
        // Its own process group, so a client that overruns its time is
        // stopped together with the scripts it started.
        cmd.process_group(0);
    }
    // SAFETY: only system calls happen between fork and exec (setns,
    // unshare, mount, sethostname); the CString was allocated before fork.
    unsafe {
        cmd.pre_exec(move || {
            setns(BorrowedFd::borrow_raw(fd), CloneFlags::CLONE_NEWNET)?;
            if let Some(name) = &hostname {
                shield(name, private_dirs)?;
            }
            Ok(())
        });
    }
    cmd
}

/// Runs in the forked child, before exec.
fn shield(hostname: &CString, private_dirs: &[&str]) -> std::io::Result<()> {
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)?;
    // Nothing mounted from here on may reach the host's mount table.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)?;
    let resolv = c"/etc/resolv.conf";
    // A missing file has nothing to protect; bind mounts need a target.
    if unsafe { libc::access(resolv.as_ptr(), libc::F_OK) } == 0 {
        mount(Some("/dev/null"), "/etc/resolv.conf", None::<&str>, MsFlags::MS_BIND, None::<&str>)?;
        // Read-only, or a hook's `chmod 644 /etc/resolv.conf` reaches the
        // host's /dev/null through it (dhclient's did: /dev/null became
        // unwritable for every user but root). Writes to a device still pass.
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(None::<&str>, "/etc/resolv.conf", None::<&str>, ro, None::<&str>)?;
    }
    // As `ip netns exec` does: sysfs mounted now shows this namespace's devices.
    if umount2("/sys", MntFlags::MNT_DETACH).is_ok() {
        mount(Some("sysfs"), "/sys", Some("sysfs"), MsFlags::empty(), None::<&str>)?;
    }
    for dir in private_dirs {
        if Path::new(dir).is_dir() {
            mount(Some("tmpfs"), *dir, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0755"))?;
        }
    }
    nix::unistd::sethostname(hostname.to_str().unwrap_or("guest"))?;
    Ok(())
}
