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
