//! Carry out a plan. Every step that changes something registers how to take
//! it back; on the first failure, or when TERM, INT or HUP asks the run to
//! stop, the undos run newest first, and the error that stopped us is the
//! one reported.

use anyhow::Result;

use crate::attach::plan::Plan;
use crate::attach::step::Target;
use crate::sys::signals;

pub fn apply(plan: &Plan, t: &mut Target) -> Result<()> {
    for step in &plan.steps {
        if let Err(e) = signals::check().and_then(|()| step.run(t)) {
            let undone = t.made_something();
            t.roll_back();
            return Err(if undone { e.context("attach failed; everything it had made was removed") } else { e });
        }
    }
    Ok(())
}
