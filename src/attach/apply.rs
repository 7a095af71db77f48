//! Carry out a plan. Every step that changes something registers how to take
//! it back; on the first failure, or when TERM, INT or HUP asks the run to
//! stop, the undos run newest first, and the error that stopped us is the
//! one reported.

use anyhow::Result;

use crate::attach::plan::Plan;
use crate::attach::step::{Steps, Target};
use crate::sys::signals;

pub fn apply(plan: &Plan, t: &mut Target) -> Result<()> {
    run_with_undo(&plan.steps, t, "attach")
}

/// Runs steps in order; on the first failure (or a signal) undoes what they
/// made. `what` names the work in the error: "attach failed; …".
pub fn run_with_undo(steps: &Steps, t: &mut Target, what: &str) -> Result<()> {
    for step in steps {
        if let Err(e) = signals::check().and_then(|()| step.run(t)) {
            let undone = t.made_something();
            t.roll_back();
            return Err(if undone {
                e.context(format!("{what} failed; everything it had made was removed"))
            } else {
                e
            });
        }
    }
    Ok(())
}
