//! `pipework route|rule|tc GUEST ARGS…`: iproute2's own grammar, run inside
//! the guest's namespace. Its exit status becomes ours.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{Context, Result};
use nix::sched::{setns, CloneFlags};

use crate::guest;
use crate::request::PassThrough;

pub fn run(p: &PassThrough) -> Result<i32> {
    let (program, lead) = p.verb.command();
    let path = which::which(program).with_context(|| {
        format!("'{program}' is not installed; pipework {} needs it (Debian/Ubuntu: apt-get install iproute2)", lead.first().unwrap_or(&program))
    })?;
    let g = guest::resolve(&p.guest)?;
    let fd = g.netns.as_fd().as_raw_fd();
    let mut cmd = Command::new(path);
    cmd.args(lead).args(&p.args);
    // SAFETY: setns is async-signal-safe; the fd stays open in the parent
    // (and so in the child) until after spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            setns(BorrowedFd::borrow_raw(fd), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
        });
    }
    let status = cmd.status().with_context(|| format!("running {program} in guest {}", g.label))?;
    Ok(status.code().unwrap_or(1))
}
