//! Entry points: what each form of the command line does, above the attach
//! pipeline that they share. None of them re-implements a stage.

pub mod attach;
pub mod batch;
pub mod cni;
pub mod detach;
pub mod passthrough;
pub mod shim;
pub mod tunnel;
pub mod wait;
pub mod watch;

#[cfg(test)]
mod fuzz;
