//! The door to signals. TERM, INT and HUP do not kill pipework outright: they
//! are noted, and the run stops at the next step boundary, undoes what it
//! made, and exits 128 + the signal's number, as a shell reports a death by
//! that signal.

use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{Context, Result};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// The first signal caught, or 0.
static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn note(sig: libc::c_int) {
    // Only an atomic store: the one thing a handler may safely do here.
    let _ = CAUGHT.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// From now on, TERM, INT and HUP are noted instead of ending the process.
/// A signal this process was started ignoring (HUP under nohup, INT in a
/// shell's background job) stays ignored, as its caller asked.
pub fn defer_interruptions() -> Result<()> {
    let action = SigAction::new(SigHandler::Handler(note), SaFlags::SA_RESTART, SigSet::empty());
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic; the old action put
        // back is the one the process was started with.
        let old = unsafe { sigaction(sig, &action) }.with_context(|| format!("catching {sig}"))?;
        if matches!(old.handler(), SigHandler::SigIgn) {
            unsafe { sigaction(sig, &old) }.with_context(|| format!("leaving {sig} ignored"))?;
        }
    }
    Ok(())
}

/// The run was asked to stop by this signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted(pub i32);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Signal::try_from(self.0) {
            Ok(s) => write!(f, "interrupted by {s}"),
            Err(_) => write!(f, "interrupted by signal {}", self.0),
        }
    }
}

impl std::error::Error for Interrupted {}

impl Interrupted {
    /// The exit status a shell shows for a death by this signal.
    pub fn exit_code(self) -> u8 {
        (128 + self.0).clamp(0, 255) as u8
    }
}

/// An error when a signal asked the run to stop; call between steps.
pub fn check() -> Result<()> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => Ok(()),
        sig => Err(Interrupted(sig).into()),
    }
}

/// The write end of the pipe `Arrivals` reads, for the handler.
static ARRIVALS_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn arrive(sig: libc::c_int) {
    let fd = ARRIVALS_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; a full pipe drops the byte,
        // and a reader that is behind has bytes to read anyway.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
}

/// Signals as bytes on a pipe, for a loop that polls: what a long-running
/// watch uses instead of blocking signals, since programs it starts inherit
/// a blocked mask (and would then ignore the TERM that stops them) but get
/// caught signals back at their defaults.
pub struct Arrivals {
    read: std::os::fd::OwnedFd,
    _write: std::os::fd::OwnedFd,
}

impl Arrivals {
    pub fn catch(signals: &[Signal]) -> Result<Arrivals> {
        use nix::fcntl::OFlag;
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).context("making a signal pipe")?;
        ARRIVALS_FD.store(std::os::fd::AsRawFd::as_raw_fd(&write), Ordering::SeqCst);
        let action =
            SigAction::new(SigHandler::Handler(arrive), SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP, SigSet::empty());
        for &sig in signals {
            // SAFETY: the handler only writes one byte to a pipe.
            unsafe { sigaction(sig, &action) }.with_context(|| format!("catching {sig}"))?;
        }
        Ok(Arrivals { read, _write: write })
    }

    /// The signals that arrived since the last call, in order.
    pub fn take(&self) -> Vec<Signal> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(n) = nix::unistd::read(&self.read, &mut buf) {
            if n == 0 {
                break;
            }
            out.extend(buf[..n].iter().filter_map(|&b| Signal::try_from(i32::from(b)).ok()));
        }
        out
    }
}

impl std::os::fd::AsFd for Arrivals {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.read.as_fd()
    }
}
