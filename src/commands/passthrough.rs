//! `pipework route|rule|tc GUEST ARGS…`: iproute2's own grammar, run inside
//! the guest's namespace. Its exit status becomes ours.

use anyhow::{Context, Result};

use crate::guest;
use crate::request::PassThrough;
use crate::sys::exec::{self, Isolation};

pub fn run(p: &PassThrough, dry_run: bool) -> Result<i32> {
    let (program, lead) = p.verb.command();
    let path = which::which(program).with_context(|| {
        format!(
            "'{program}' is not installed; pipework {} needs it (Debian/Ubuntu: apt-get install iproute2)",
            lead.first().unwrap_or(&program)
        )
    })?;
    let g = guest::resolve(&p.guest)?;
    if dry_run {
        let words: Vec<&str> = lead.iter().copied().chain(p.args.iter().map(String::as_str)).collect();
        println!("{} {program} {}", g.names().exec, words.join(" "));
        return Ok(0);
    }
    let mut cmd = exec::command(&path, &g.netns, Isolation::Network);
    cmd.args(lead).args(&p.args);
    let status = cmd.status().with_context(|| format!("running {program} in guest {}", g.label()))?;
    Ok(status.code().unwrap_or(1))
}
