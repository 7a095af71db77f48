//! The attach pipeline, below the entry points that share it: `facts` looks
//! at host and guest, `plan` orders steps, `apply` runs them with undo.
//! `kinds` holds one module per kind of host interface; `configure` the
//! guest-side steps every kind ends with; `step` the language they share; `check` compares a guest with a request.

pub mod apply;
pub mod check;
pub mod configure;
pub mod facts;
pub mod kinds;
pub mod names;
pub mod plan;
pub mod replace;
pub mod step;
