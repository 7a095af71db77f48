//! `pipework --batch FILE`: many attaches in one process. Each line is an
//! ordinary attach command line (a leading `pipework` is allowed, `#` starts
//! a comment, quoting works as in a shell). Every line is parsed, its guest
//! resolved and its facts read before anything changes; any problem there
//! stops the batch with nothing touched. Then the lines run in order, over
//! one netlink connection per namespace; a line that fails is undone and the
//! others go on, unless `--fail-fast`.

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::rc::Rc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;

use crate::attach::apply;
use crate::attach::facts::{self, Facts};
use crate::attach::plan::{self, Plan};
use crate::attach::step::Target;
use crate::cli::{self, Cli, Parsed};
use crate::guest::{self, Guest};
use crate::request::{Attach, Request};
use crate::sys::arp::Announcer;
use crate::sys::netlink::Netlink;
use crate::sys::signals::Interrupted;
use crate::sys::vsctl::Vsctl;

/// One attach line, ready to run.
struct Prepared {
    line: usize,
    text: String,
    guest: Rc<Guest>,
    guest_nl: Rc<Netlink>,
    vsctl: Option<Rc<Vsctl>>,
    plan: Plan,
}

/// Reads the lines of `path` (`-`: standard input).
pub fn read_lines(path: &str) -> Result<String> {
    let mut text = String::new();
    if path == "-" {
        std::io::stdin().read_to_string(&mut text).context("reading the batch from standard input")?;
    } else {
        text = std::fs::read_to_string(path).with_context(|| format!("reading the batch file {path}"))?;
    }
    Ok(text)
}

/// Line number, text and request of every attach line; all errors at once.
fn parse_all(text: &str) -> Result<Vec<(usize, String, Attach)>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Ok(a) => out.push((n, line.to_string(), a)),
            Err(e) => errors.push(format!("line {n}: {e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!("the batch has errors; nothing was changed:\n  {}", errors.join("\n  "));
    }
    if out.is_empty() {
        bail!("the batch has no attach lines");
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<Attach> {
    parse_words(shlex::split(line).ok_or_else(|| anyhow!("unbalanced quotes"))?)
}

/// One attach command line, as words (a leading `pipework` allowed).
pub fn parse_words(mut words: Vec<String>) -> Result<Attach> {
    if words.first().map(String::as_str) == Some("pipework") {
        words.remove(0);
    }
    let cli = Cli::try_parse_from(std::iter::once("pipework".to_string()).chain(words))
        .map_err(|e| anyhow!("{}", e.kind()))?;
    if cli.batch.is_some()
        || cli.watch.is_some()
        || cli.dry_run
        || cli.detach
        || cli.wait
        || cli.man
        || cli.completions.is_some()
    {
        bail!("only attach command lines can be batched");
    }
    match cli::parse(&cli)? {
        Parsed::Request(Request::Attach(a)) => Ok(*a),
        Parsed::Usage => bail!("incomplete: HOSTIF GUEST ADDRESS are needed"),
        Parsed::Request(_) => bail!("only attach command lines can be batched"),
    }
}

pub fn run(path: &str, fail_fast: bool, dry_run: bool) -> Result<u8> {
    let lines = parse_all(&read_lines(path)?)?;
    raise_fd_limit();
    let started = Instant::now();
    let host_nl = Netlink::connect()?;
    let prepared = prepare_all(lines, &host_nl)?;
    if dry_run {
        for p in &prepared {
            println!("# line {}: {}", p.line, p.text);
            p.plan.print(&p.guest.names());
        }
        return Ok(0);
    }

    let progress = std::io::stderr().is_terminal();
    let total = prepared.len();
    let arp = Announcer::on_helper_thread();
    let mut failed = Vec::new();
    let mut ran = 0;
    // The lines that succeeded keep their undo logs: a signal takes back the
    // whole batch, not only the line it fell on.
    let mut done = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        if progress && (i % 10 == 0 || i + 1 == total) {
            eprint!("\rpipework: attaching {}/{total} (line {})\x1b[K", i + 1, p.line);
            let _ = std::io::stderr().flush();
        }
        let mut target = Target::new(&host_nl, &p.guest_nl, &p.guest.netns, p.guest.label(), p.vsctl.as_deref(), &arp);
        ran += 1;
        let result = apply::apply(&p.plan, &mut target);
        if let Err(e) = result.as_ref().err().and_then(|e| e.downcast_ref::<Interrupted>()).map_or(Ok(()), |i| Err(*i))
        {
            if progress {
                eprint!("\r\x1b[K");
            }
            eprintln!("pipework: batch {e} at line {}; taking back the {} lines attached so far", p.line, done.len());
            for mut t in done.into_iter().rev() {
                Target::roll_back(&mut t);
            }
            return Err(e.into());
        }
        if let Err(e) = result {
            if progress {
                eprint!("\r\x1b[K");
            }
            eprintln!("pipework: line {}: {e:#}", p.line);
            failed.push(p.line);
            if fail_fast {
                break;
            }
        } else {
            done.push(target);
        }
    }
    // Every announcement is out, and the packet sockets handed off, before
    // the summary.
    drop(arp);
    if progress {
        eprint!("\r\x1b[K");
    }
    let failures = match failed.len() {
        0 => String::new(),
        1 => format!(" (line {})", failed[0]),
        _ => format!(" (lines {})", join(&failed)),
    };
    let skipped = if ran < total { format!(", {} not run (--fail-fast)", total - ran) } else { String::new() };
    println!(
        "pipework: batch: {} attached, {} failed{failures}{skipped} in {:.2} s",
        ran - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if failed.is_empty() { 0 } else { 1 })
}

/// Guests, connections and facts for every line, before any change. One
/// netlink connection per guest namespace, however many lines name it.
fn prepare_all(lines: Vec<(usize, String, Attach)>, host_nl: &Netlink) -> Result<Vec<Prepared>> {
    let mut guests: HashMap<String, Rc<Guest>> = HashMap::new();
    let mut conns: HashMap<(u64, u64), Rc<Netlink>> = HashMap::new();
    let mut vsctls: HashMap<Option<String>, Option<Rc<Vsctl>>> = HashMap::new();
    let mut out = Vec::with_capacity(lines.len());
    let mut errors = Vec::new();
    // Many names: Docker's list answers them all in one request.
    let mut resolver = guest::Resolver::new(lines.len() > 1);
    for (line, text, req) in lines {
        let mut prepare = || {
            let key = req.guest.to_string();
            let guest = match guests.get(&key) {
                Some(g) => g.clone(),
                None => {
                    let g = Rc::new(resolver.resolve(&req.guest)?);
                    guests.insert(key, g.clone());
                    g
                }
            };
            let meta = guest.netns.metadata()?;
            let guest_nl = match conns.get(&(meta.dev(), meta.ino())) {
                Some(c) => c.clone(),
                None => {
                    let c = Rc::new(host_nl.open_in(&guest.netns).context("opening netlink inside the guest")?);
                    conns.insert((meta.dev(), meta.ino()), c.clone());
                    c
                }
            };
            let vsctl = vsctls
                .entry(req.ovs.db.clone())
                .or_insert_with(|| Vsctl::find(req.ovs.db.as_deref()).map(Rc::new))
                .clone();
            let facts: Facts = facts::gather(&req, &guest, host_nl, &guest_nl, vsctl.as_deref())?;
            let plan = plan::plan(&req, &facts);
            Ok::<_, anyhow::Error>(Prepared { line, text: text.clone(), guest, guest_nl, vsctl, plan })
        };
        match prepare() {
            Ok(p) => out.push(p),
            Err(e) => errors.push(format!("line {line}: {e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!("the batch cannot run; nothing was changed:\n  {}", errors.join("\n  "));
    }
    Ok(out)
}

fn join(lines: &[usize]) -> String {
    lines.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
}

/// A batch holds a namespace file and a netlink socket per guest: more than
/// the usual soft limit of 1024 descriptors for a big batch. The hard limit
/// is ours to take.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_quotes_and_the_program_name() {
        let text = "# two guests\n\npipework br1 web1 10.0.0.2/24\nbr1 -i eth2 web2 'udhcpc:-t 3'  \n";
        let lines = parse_all(text).unwrap();
        assert_eq!(lines.iter().map(|l| l.0).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(lines[1].2.guest_if.as_ref().unwrap().as_str(), "eth2");
    }

    #[test]
    fn every_bad_line_is_reported_at_once() {
        let err = parse_all("br1 web1 10.0.0.300/24\nbr1 web2 10.0.0.3/24\n--detach web1\nbr1 web3\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("line 1:") && msg.contains("line 3: only attach") && msg.contains("line 4: incomplete"),
            "{msg}"
        );
        assert!(!msg.contains("line 2:"), "{msg}");
    }
}
