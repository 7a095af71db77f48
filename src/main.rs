//! pipework: plumb extra network interfaces into running containers.
//!
//! The pipeline, top to bottom: argv (`cli`) → a typed `Request` (`request`)
//! → facts about guest and host (`guest`, `host_if`, `facts`) → a pure
//! `Plan` of steps (`plan`) → `apply`, which undoes everything on failure.

mod apply;
mod arp;
mod batch;
mod cli;
mod detach;
mod dhcp;
mod dhcp_builtin;
mod docs;
mod engines;
mod facts;
mod guest;
mod guest_exec;
mod host_if;
mod names;
mod netlink;
mod netns;
mod ovs;
mod passthrough;
mod plan;
mod request;
mod wait;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use crate::cli::{Cli, Parsed};
use crate::netlink::Netlink;
use crate::request::{Attach, Request};

fn main() -> ExitCode {
    // Errors are printed as one line of context ({:#}), never with a
    // backtrace, so capturing one is pure cost: ~0.3 ms per error when the
    // caller's environment has RUST_BACKTRACE=1, and netlink answers such as
    // "no such device" or "exists" are ordinary errors here. This variable
    // governs captured backtraces only; panics still follow RUST_BACKTRACE.
    // Set before anything runs: std reads it once, at the first capture.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    if std::env::var_os(dhcp_builtin::CHILD_ENV).is_some() {
        return dhcp_builtin::child_main();
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
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pipework: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("pipework: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<u8> {
    if let Some(path) = &cli.batch {
        if !cli.words.is_empty() {
            anyhow::bail!("--batch takes its command lines from {path}, not from the command line");
        }
        return batch::run(path, cli.fail_fast, cli.dry_run).await;
    }
    let parsed = match cli::passthrough_verb(&cli) {
        // `route…`, `rule…`, `tc…` are verbs unless an interface has that name.
        Some(verb) if Netlink::connect()?.link(&cli.words[0]).await?.is_none() => cli::parse_passthrough(&cli, verb)?,
        _ => cli::parse(&cli)?,
    };
    let request = match parsed {
        Parsed::Usage => {
            println!("{}", cli::USAGE);
            return Ok(1);
        }
        Parsed::Request(r) => r,
    };
    match request {
        Request::Attach(a) => attach(&a, cli.dry_run).await.map(|()| 0),
        Request::PassThrough(p) => Ok(passthrough::run(&p, cli.dry_run)?.clamp(0, 255) as u8),
        Request::Detach(d) => detach::run(&d, cli.dry_run).await.map(|()| 0),
        Request::Wait { guest_if } => wait::until_present(&guest_if).await.map(|()| 0),
    }
}

async fn attach(req: &Attach, dry_run: bool) -> Result<()> {
    let guest = guest::resolve(&req.guest)?;
    let host = Netlink::connect()?;
    let inside = Netlink::connect_in(&guest.netns).context("opening netlink inside the guest")?;
    let vsctl = ovs::Vsctl::find(req.ovs.db.as_deref());
    let facts = facts::gather(req, &guest, &host, &inside, vsctl.as_ref()).await?;
    let plan = plan::plan(req, &facts);
    if dry_run {
        plan.print(&guest.names());
        return Ok(());
    }
    let target = apply::Target::new(&host, &inside, &guest, &facts, vsctl.as_ref());
    let result = apply::apply(&plan, &target).await;
    arp::release_sockets();
    result
}
