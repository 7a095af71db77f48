//! `pipework --batch FILE`: many attaches in one process. Each line is an
//! ordinary attach command line (a leading `pipework` is allowed, `#` starts
//! a comment, quoting works as in a shell), or a `tunnel` line, which runs
//! before the attaches. Every line is parsed, its guest
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
use crate::attach::facts::{self, Facts, Ready};
use crate::attach::plan::{self, Plan};
use crate::attach::step::Target;
use crate::cli::{self, Cli, Parsed};
use crate::commands::tunnel;
use crate::guest::{self, Guest};
use crate::request::{Attach, Request, Tunnel};
use crate::sys::arp::Announcer;
use crate::sys::netlink::Netlink;
use crate::sys::ovsdb::vswitch::Vswitch;
use crate::sys::signals::Interrupted;

/// One attach line, ready to run.
struct Prepared {
    line: usize,
    text: String,
    guest: Rc<Guest>,
    guest_nl: Rc<Netlink>,
    vswitch: Option<Rc<Vswitch>>,
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

/// The lines of a batch: tunnel lines (run first, in order, so the
/// attaches find the overlay's bridges and MTU) and attach lines, each with
/// its line number and text.
pub(crate) struct Lines {
    tunnels: Vec<(usize, String, Tunnel)>,
    attaches: Vec<(usize, String, Attach)>,
}

/// Every line parsed; all errors at once.
pub(crate) fn parse_all(text: &str) -> Result<Lines> {
    let mut lines = Lines { tunnels: Vec::new(), attaches: Vec::new() };
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = match shlex::split(line) {
            Some(w) => w,
            None => {
                errors.push(format!("line {n}: unbalanced quotes"));
                continue;
            }
        };
        let tunnel = words.iter().find(|w| *w != "pipework").is_some_and(|w| w == "tunnel");
        let parsed = if tunnel {
            parse_tunnel(words).map(|t| lines.tunnels.push((n, line.to_string(), t)))
        } else {
            parse_words(words).map(|a| lines.attaches.push((n, line.to_string(), a)))
        };
        if let Err(e) = parsed {
            errors.push(format!("line {n}: {e:#}"));
        }
    }
    if !errors.is_empty() {
        bail!("the batch has errors; nothing was changed:\n  {}", errors.join("\n  "));
    }
    if lines.attaches.is_empty() && lines.tunnels.is_empty() {
        bail!("the batch has no attach or tunnel lines");
    }
    Ok(lines)
}

/// A `tunnel …` line (a leading `pipework` allowed).
fn parse_tunnel(mut words: Vec<String>) -> Result<Tunnel> {
    if words.first().map(String::as_str) == Some("pipework") {
        words.remove(0);
    }
    let cli = Cli::try_parse_from(std::iter::once("pipework".to_string()).chain(words))
        .map_err(|e| anyhow!("{}", e.kind()))?;
    if cli.batch.is_some() || cli.watch.is_some() || cli.dry_run || cli.wait {
        bail!("a batched tunnel line takes no --batch, --watch, --dry-run or --wait");
    }
    match cli::parse_tunnel(&cli)? {
        Parsed::Request(Request::Tunnel(t)) => Ok(t),
        _ => bail!("tunnel lines in a batch make tunnels: BRIDGE TYPE[:KEY] PEER… (listing is not batched)"),
    }
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
    let Lines { tunnels, attaches } = parse_all(&read_lines(path)?)?;
    for (n, text, t) in &tunnels {
        if dry_run {
            println!("# line {n}: {text}");
        }
        tunnel::run(t, dry_run).with_context(|| format!("line {n}: {text}; no attach line ran"))?;
    }
    if attaches.is_empty() {
        return Ok(0);
    }
    raise_fd_limit();
    let started = Instant::now();
    let host_nl = Netlink::connect()?;
    let (prepared, as_asked) = prepare_all(attaches, &host_nl)?;
    for (n, text, what) in &as_asked {
        if dry_run {
            println!("# line {n}: {text}\n# {what}");
        } else {
            eprintln!("pipework: line {n}: {what}");
        }
    }
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
        let mut target =
            Target::new(&host_nl, &p.guest_nl, &p.guest.netns, p.guest.label(), p.vswitch.as_deref(), &arp);
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
    let kept = if as_asked.is_empty() { String::new() } else { format!(", {} already as asked", as_asked.len()) };
    println!(
        "pipework: batch: {} attached{kept}, {} failed{failures}{skipped} in {:.2} s",
        ran - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if failed.is_empty() { 0 } else { 1 })
}

/// Lines whose interface is already as asked: line, text, and that said.
type AsAsked = Vec<(usize, String, String)>;

/// Guests, connections and facts for every line, before any change. One
/// netlink connection per guest namespace, however many lines name it. A
/// line whose interface is already as asked is set apart: the same batch
/// run again changes nothing and succeeds.
fn prepare_all(lines: Vec<(usize, String, Attach)>, host_nl: &Netlink) -> Result<(Vec<Prepared>, AsAsked)> {
    let mut guests: HashMap<String, Rc<Guest>> = HashMap::new();
    let mut conns: HashMap<(u64, u64), Rc<Netlink>> = HashMap::new();
    let mut vswitches: HashMap<Option<String>, Option<Rc<Vswitch>>> = HashMap::new();
    let mut out = Vec::with_capacity(lines.len());
    let mut errors = Vec::new();
    let mut as_asked = Vec::new();
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
            let vswitch = vswitches
                .entry(req.ovs.db.clone())
                .or_insert_with(|| Vswitch::find(req.ovs.db.as_deref()).map(Rc::new))
                .clone();
            let facts: Facts = match facts::unless_as_asked(&req, &guest, host_nl, &guest_nl, vswitch.as_deref())? {
                Ready::AsAsked(said) => return Ok(Err(said)),
                Ready::Facts(f) => f,
            };
            let plan = plan::plan(&req, &facts);
            Ok::<_, anyhow::Error>(Ok(Prepared { line, text: text.clone(), guest, guest_nl, vswitch, plan }))
        };
        match prepare() {
            Ok(Ok(p)) => out.push(p),
            Ok(Err(said)) => as_asked.push((line, text.clone(), said)),
            Err(e) => errors.push(format!("line {line}: {e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!("the batch cannot run; nothing was changed:\n  {}", errors.join("\n  "));
    }
    Ok((out, as_asked))
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
        let text = "# two guests\n\npipework br1 web1 10.0.0.2/24\nbr1 -i eth2 web2 'udhcpc:-t 3'  \n\
                    pipework tunnel br1 vxlan:5 10.9.0.1 10.9.0.2\n";
        let lines = parse_all(text).unwrap();
        assert_eq!(lines.attaches.iter().map(|l| l.0).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(lines.attaches[1].2.guest_if.as_ref().unwrap().as_str(), "eth2");
        assert_eq!(lines.tunnels.iter().map(|l| (l.0, l.2.peers.len())).collect::<Vec<_>>(), [(5, 2)]);
    }

    #[test]
    fn every_bad_line_is_reported_at_once() {
        let text = "br1 web1 10.0.0.300/24\nbr1 web2 10.0.0.3/24\n--detach web1\nbr1 web3\ntunnel br1 vxlan:5\n";
        let Err(err) = parse_all(text) else { panic!("a bad batch parsed") };
        let msg = format!("{err:#}");
        assert!(
            msg.contains("line 1:")
                && msg.contains("line 3: only attach")
                && msg.contains("line 4: incomplete")
                && msg.contains("line 5: tunnel br1 vxlan:5: no peer"),
            "{msg}"
        );
        assert!(!msg.contains("line 2:"), "{msg}");
    }
}
