//! The door to network namespaces, as open files. A guest's namespace is opened once and
//! every later step uses that fd, so a PID reused mid-run cannot redirect us.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result};
use nix::sched::{setns, CloneFlags};

/// The namespace this thread is in now.
pub fn current() -> Result<File> {
    File::open("/proc/thread-self/ns/net").context("opening this thread's network namespace")
}

/// True when both files are the same namespace.
pub fn same(a: &File, b: &File) -> Result<bool> {
    let (a, b) = (a.metadata()?, b.metadata()?);
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

/// While this lives, the current thread is inside another namespace; dropping
/// it brings the thread home. Sockets opened meanwhile stay bound to the
/// namespace they were opened in, which is the point.
pub struct Entered {
    home: File,
}

pub fn enter(target: &File) -> Result<Entered> {
    let home = current()?;
    setns(target.as_fd(), CloneFlags::CLONE_NEWNET).context("entering the guest's network namespace")?;
    Ok(Entered { home })
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Err(e) = setns(self.home.as_fd(), CloneFlags::CLONE_NEWNET) {
            // Going on would act on the guest believing it is the host.
            eprintln!("pipework: cannot return to the host network namespace: {e}");
            std::process::abort();
        }
    }
}
