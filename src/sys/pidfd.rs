//! The door to pidfds: a descriptor that names one process (never a later
//! one that reuses its PID) and polls readable once it has exited, so waits
//! for a process sleep until it ends instead of looking every few
//! milliseconds. Linux 5.3 and later; where the call is missing, callers
//! get None and fall back to what they did before pidfds.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// A process, pinned.
pub struct PidFd(OwnedFd);

/// How a bounded wait for a process ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited {
    Exited,
    TimedOut,
    /// A signal arrived (the caller decides whether it asks the run to stop).
    Interrupted,
}

impl PidFd {
    /// None when the process is already gone (and reaped) or the kernel has
    /// no pidfds.
    pub fn open(pid: i32) -> Option<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        // SAFETY: a non-negative result is a descriptor that is now ours alone.
        (fd >= 0).then(|| PidFd(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// Has the process exited (a zombie counts)?
    pub fn exited(&self) -> bool {
        self.wait(Duration::ZERO) == Waited::Exited
    }

    /// Sleeps until the process exits, `limit` passes, or a signal arrives.
    pub fn wait(&self, limit: Duration) -> Waited {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // poll takes milliseconds: round up, so a wait never ends early.
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
                Ok(0) if Instant::now() >= deadline => return Waited::TimedOut,
                Ok(0) => continue,
                Ok(_) => return Waited::Exited,
                Err(Errno::EINTR) => return Waited::Interrupted,
                // A pidfd cannot fail to poll; if it did, the process is
                // not ours to wait for any more.
                Err(_) => return Waited::Exited,
            }
        }
    }

    /// Moves the descriptor out, for a caller that registers it with an
    /// event loop (tokio's AsyncFd).
    pub fn into_fd(self) -> OwnedFd {
        self.0
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_ends_with_the_process_and_not_before() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let p = PidFd::open(child.id() as i32).expect("pidfds (Linux 5.3)");
        assert!(!p.exited());
        assert_eq!(p.wait(Duration::from_millis(30)), Waited::TimedOut);
        child.kill().unwrap();
        let t0 = Instant::now();
        assert_eq!(p.wait(Duration::from_secs(20)), Waited::Exited);
        assert!(t0.elapsed() < Duration::from_secs(10), "woken by the exit, not the limit");
        assert!(p.exited(), "a zombie counts as exited");
        child.wait().unwrap();
    }
}
