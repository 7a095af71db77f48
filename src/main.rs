//! pipework: plumb extra network interfaces into running containers.
//!
//! The pipeline, top to bottom: argv (`cli`) → a typed `Request` (`request`)
//! → an entry point (`commands`) → facts about guest and host (`guest`,
//! `attach::facts`, `attach::kinds`) → a pure `Plan` of steps
//! (`attach::plan`) → `attach::apply`, which undoes everything on failure.
//! Below them: `dhcp`, and `sys`, one door to each OS mechanism.

mod attach;
mod cli;
mod commands;
mod dhcp;
mod docs;
mod guest;
mod overlay;
mod request;
mod sys;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Parsed};
use crate::commands::{batch, detach, passthrough, wait, watch};
use crate::request::Request;
use crate::sys::netlink::Netlink;
use crate::sys::signals::{self, Interrupted};

fn main() -> ExitCode {
    // Errors are printed as one line of context ({:#}), never with a
    // backtrace, so capturing one is pure cost: ~0.3 ms per error when the
    // caller's environment has RUST_BACKTRACE=1, and netlink answers such as
    // "no such device" or "exists" are ordinary errors here. This variable
    // governs captured backtraces only; panics still follow RUST_BACKTRACE.
    // Set before anything runs: std reads it once, at the first capture.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    if std::env::var_os(dhcp::builtin::CHILD_ENV).is_some() {
        return dhcp::builtin::child_main();
    }
    // A CNI runtime passes no arguments, only CNI_* variables and stdin.
    if commands::cni::invoked() {
        return commands::cni::main();
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let _ = e.print();
            // Scripts test `$? -eq 1` for every user error, as with the reference.
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            };
        }
    };
    if cli.man || cli.completions.is_some() {
        let text = match cli.completions {
            Some(shell) => Ok(docs::completions(shell)),
            None => docs::man_page(),
        };
        use std::io::Write;
        return match text.and_then(|t| Ok(std::io::stdout().write_all(&t)?)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pipework: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("pipework: {e:#}");
            let interrupted = e.chain().find_map(|c| c.downcast_ref::<Interrupted>());
            ExitCode::from(interrupted.map_or(1, |i| i.exit_code()))
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    if let Some(path) = &cli.batch {
        if !cli.words.is_empty() {
            anyhow::bail!("--batch takes its command lines from {path}, not from the command line");
        }
        if !cli.dry_run {
            signals::defer_interruptions()?;
        }
        return batch::run(path, cli.fail_fast, cli.dry_run);
    }
    if let Some(path) = &cli.watch {
        if !cli.words.is_empty() {
            anyhow::bail!(
                "--watch takes its command lines from {path} and from container labels, not from the command line"
            );
        }
        return watch::run(path, cli.engine);
    }
    let parsed = match cli::passthrough_verb(&cli) {
        // `route…`, `rule…`, `tc…` and `tunnel` are verbs unless an
        // interface has that name.
        Some(verb) if Netlink::connect()?.link(&cli.words[0])?.is_none() => cli::parse_passthrough(&cli, verb)?,
        None if cli::is_tunnel(&cli) && Netlink::connect()?.link("tunnel")?.is_none() => cli::parse_tunnel(&cli)?,
        _ => cli::parse(&cli)?,
    };
    let changes_the_host = !cli.dry_run
        && matches!(
            parsed,
            Parsed::Request(Request::Attach(_) | Request::Detach(_) | Request::Shim(_) | Request::Tunnel(_))
        );
    if changes_the_host {
        signals::defer_interruptions()?;
    }
    let request = match parsed {
        Parsed::Usage => {
            println!("{}", cli::USAGE);
            return Ok(1);
        }
        Parsed::Request(r) => r,
    };
    match request {
        Request::Attach(a) => commands::attach::run(&a, cli.dry_run).map(|()| 0),
        Request::PassThrough(p) => Ok(passthrough::run(&p, cli.dry_run)?.clamp(0, 255) as u8),
        Request::Detach(d) => detach::run(&d, cli.dry_run).map(|()| 0),
        Request::Wait { guest_if } => wait::until_configured(&guest_if).map(|()| 0),
        Request::Shim(s) => commands::shim::run(&s, cli.dry_run).map(|()| 0),
        Request::Tunnel(t) => commands::tunnel::run(&t, cli.dry_run).map(|()| 0),
        Request::TunnelList { bridge, ovs_db } => {
            commands::tunnel::list(bridge.as_ref(), ovs_db.as_deref()).map(|()| 0)
        }
    }
}
