//! The manual page and shell completions, generated from the clap
//! definitions so that every option stays documented as it is; the prose
//! clap cannot hold lives in man/sections.roff.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;

const SECTIONS: &str = include_str!("../man/sections.roff");

/// The reference's grammar, which clap's generated synopsis cannot show.
const SYNOPSIS: &str = r#".SH SYNOPSIS
.B pipework
.RB [ \-\-direct\-phys ]
.I HOSTIF
.RB [ \-i
.IR GUESTIF ]
.RB [ \-l
.IR HOSTSIDEIF ]
.RB [ \-a
.IR FAMILY ]
.I GUEST ADDRESS
.RI [ MAC ][@ VLAN ]
.br
.B pipework
.BR route | rule | tc
.I GUEST ARGS...
.br
.B pipework \-\-wait
.RB [ \-i
.IR GUESTIF ]
.br
.B pipework \-\-watch
.I FILE
.RB [ \-\-engine
.BR docker | podman ]
.br
.B pipework \-\-detach
.RB [ \-\-strict ]
.RB [ \-i
.IR GUESTIF ]
.I GUEST
"#;

/// pipework(8), as roff.
pub fn man_page() -> Result<Vec<u8>> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd).section("8").manual("System Administration");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    out.write_all(SYNOPSIS.as_bytes())?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    out.write_all(SECTIONS.as_bytes())?;
    Ok(out)
}

pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "pipework", &mut out);
    out
}
