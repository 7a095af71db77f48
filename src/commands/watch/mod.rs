//! `pipework --watch FILE`: keeps containers attached as FILE and their
//! `pipework.attach` labels ask, across restarts, until stopped.
//!
//! It follows the engine's event stream (Docker's Engine API, or Podman's
//! Docker-compatible one): `start` → attach; `die` → clean what the kernel
//! does not (the OVS port and its row, a DHCP client still renewing, its pid
//! file; the veth goes with the namespace). At start, after every reconnect
//! and on SIGHUP (which re-reads FILE) it reconciles: each running container
//! gets what its rules ask, an interface already as asked is left alone, one
//! that differs is taken away and made again. SIGTERM and SIGINT stop the
//! watch and leave every attachment in place. The engine going away is
//! waited out, with a growing pause between tries.
//!
//! One line on stderr per action, fit for journald.

pub(crate) mod rules;

use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use crate::attach::check::{self, State};
use crate::attach::kinds;
use crate::commands::{attach, detach};
use crate::guest::engine_api::{self, Endpoint, Event, Events, Running};
use crate::guest::{self, Guest};
use crate::request::Engine;
use crate::sys::netlink::Netlink;
use crate::sys::ovsdb::vswitch::Vswitch;
use crate::sys::signals::Arrivals;
use rules::Rule;

/// The first pause after the engine could not be reached, doubled after
/// each failure up to the last.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(8);
/// An event stream that ends sooner than this after it began counts as a
/// failure to connect: no reconnecting in a tight loop to an engine that
/// accepts and hangs up.
const SHORT_LIVED: Duration = Duration::from_secs(2);

pub fn run(path: &str, engine: Option<Engine>) -> Result<u8> {
    let engine = engine.unwrap_or(Engine::Docker);
    let ep = endpoint(engine)?;
    let rules::WatchFile { rules: file_rules, policy, errors } = rules::read_file(path)?;
    let mut signals = Signals::catch()?;
    let mut w = Watcher { path: path.to_string(), engine, ep, file_rules, policy, tracked: HashMap::new() };
    for e in errors {
        log(&e);
    }
    log(&format!("watching {engine} at {} for the {} lines of {path}", w.ep, w.file_rules.len()));
    log(&w.policy.describe());
    let mut pause = FIRST_PAUSE;
    loop {
        let began = Instant::now();
        match Events::subscribe(&w.ep) {
            Ok(mut events) => {
                w.reconcile();
                match w.follow(&mut events, &mut signals)? {
                    Some(code) => return Ok(code),
                    None if began.elapsed() >= SHORT_LIVED => {
                        pause = FIRST_PAUSE;
                        continue;
                    }
                    None => {}
                }
            }
            Err(e) => log(&format!("cannot follow {engine}'s events: {e:#}; trying again in {pause:.2?}")),
        }
        match signals.wait(pause)? {
            Some(Wake::Stop(sig)) => return Ok(stopped(sig)),
            Some(Wake::Reload) => w.reload(),
            None => {}
        }
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// Where the engine's API is; the CLI cannot follow events for us.
fn endpoint(engine: Engine) -> Result<Endpoint> {
    match engine {
        Engine::Docker => engine_api::docker().ok_or_else(|| {
            anyhow!(
                "--watch follows Docker's events over its Engine API, which pipework does not speak as DOCKER_HOST, \
                 DOCKER_CONTEXT or the TLS settings ask; point DOCKER_HOST at a unix:// or tcp:// socket"
            )
        }),
        Engine::Podman => engine_api::podman_expected().ok_or_else(|| {
            anyhow!("--watch follows Podman over its API socket; set CONTAINER_HOST to a unix:// or tcp:// one")
        }),
        Engine::Containerd => {
            bail!("--watch follows Docker or Podman (--engine podman); containerd's events are not spoken here")
        }
    }
}

fn stopped(sig: Signal) -> u8 {
    log(&format!("stopping on {sig}; attachments stay in place"));
    0
}

fn log(msg: &str) {
    eprintln!("pipework: watch: {msg}");
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A container we attached or found attached: its namespace outlives it
/// while a DHCP client still renews in there.
struct Tracked {
    name: String,
    /// Device and inode of its network namespace file.
    netns: (u64, u64),
    /// The ovsdb servers its rules (labels included) name: where its ports
    /// are, once its labels can no longer be read.
    ovs_dbs: Vec<Option<String>>,
}

struct Watcher {
    path: String,
    engine: Engine,
    ep: Endpoint,
    file_rules: Vec<Rule>,
    /// Where FILE lets containers' labels attach.
    policy: rules::LabelPolicy,
    tracked: HashMap<String, Tracked>,
}

impl Watcher {
    /// Events until a signal stops the watch (its exit code) or the stream
    /// ends (None: reconnect).
    fn follow(&mut self, events: &mut Events, signals: &mut Signals) -> Result<Option<u8>> {
        loop {
            if !events.buffered() {
                match signals.wait_with(events)? {
                    Some(Wake::Stop(sig)) => return Ok(Some(stopped(sig))),
                    Some(Wake::Reload) => {
                        self.reload();
                        self.reconcile();
                        continue;
                    }
                    None => {}
                }
            }
            match events.next() {
                Ok(Some(ev)) => self.on_event(&ev),
                Ok(None) => {
                    log(&format!("{} closed its event stream; reconnecting", self.engine));
                    return Ok(None);
                }
                Err(e) => {
                    log(&format!("lost {}'s event stream: {e:#}; reconnecting", self.engine));
                    return Ok(None);
                }
            }
        }
    }

    /// SIGHUP: FILE again. An unreadable file keeps the rules we had.
    fn reload(&mut self) {
        match rules::read_file(&self.path) {
            Ok(rules::WatchFile { rules, policy, errors }) => {
                for e in errors {
                    log(&e);
                }
                log(&format!("re-read {}: {} lines", self.path, rules.len()));
                if policy != self.policy {
                    log(&policy.describe());
                }
                self.file_rules = rules;
                self.policy = policy;
            }
            Err(e) => log(&format!("{e:#}; keeping the {} lines read before", self.file_rules.len())),
        }
    }

    /// Every running container gets what its rules ask; what containers that
    /// stopped meanwhile left behind is cleaned.
    fn reconcile(&mut self) {
        let started = Instant::now();
        let listed = match engine_api::list_running(&self.ep) {
            Ok(l) => l,
            Err(e) => return log(&format!("cannot list {}'s containers: {e:#}", self.engine)),
        };
        let running: HashSet<&str> = listed.iter().map(|c| c.id.as_str()).collect();
        let gone: Vec<String> = self.tracked.keys().filter(|id| !running.contains(id.as_str())).cloned().collect();
        for id in gone {
            self.clean(&id, "stopped while unwatched");
            self.tracked.remove(&id);
        }
        self.clean_orphan_ports(&running);
        let mut served = 0;
        for c in &listed {
            let name = c.names.first().map(String::as_str).unwrap_or("");
            let wanted = self.file_rules.iter().any(|r| rules::names(r, &c.id, name))
                || (!self.policy.is_off() && rules::has_attach_labels(c.labels.keys()));
            if !wanted {
                continue;
            }
            match engine_api::inspect_running(&self.ep, &c.id) {
                Ok(Some(r)) => {
                    served += 1;
                    self.serve(&r, None);
                }
                Ok(None) => {}
                Err(e) => log(&format!("{name}: cannot inspect it: {e:#}")),
            }
        }
        log(&format!("reconciled {served} of {} running containers in {}", listed.len(), ms(started.elapsed())));
    }

    fn on_event(&mut self, ev: &Event) {
        match ev.action.as_str() {
            "start" => match engine_api::inspect_running(&self.ep, &ev.id) {
                Ok(Some(r)) => self.serve(&r, Some(ev.time_nano)),
                Ok(None) => {}
                Err(e) => log(&format!("{}: started, but cannot inspect it: {e:#}", ev.name)),
            },
            "die" => {
                let ours = self.tracked.contains_key(&ev.id)
                    || self.file_rules.iter().any(|r| rules::names(r, &ev.id, &ev.name))
                    || ev.labeled;
                if ours {
                    self.clean(&ev.id, "died");
                }
            }
            // Podman says `remove`.
            "destroy" | "remove" if self.tracked.contains_key(&ev.id) => {
                self.clean(&ev.id, "removed");
                self.tracked.remove(&ev.id);
            }
            _ => {}
        }
    }

    /// The rules that name this container, from FILE then its labels.
    fn rules_for(&self, r: &Running) -> Vec<Rule> {
        let name = r.container.name.trim_start_matches('/');
        let mut out: Vec<Rule> =
            self.file_rules.iter().filter(|rule| rules::names(rule, &r.container.id, name)).cloned().collect();
        let (labeled, errors) = rules::from_labels(name, &r.labels, &self.policy);
        for e in errors {
            log(&e);
        }
        out.extend(labeled);
        out
    }

    /// One running container: each of its rules, attached, left alone or
    /// corrected. `since`: the start event's time, to say how long it took.
    fn serve(&mut self, r: &Running, since: Option<u128>) {
        let name = r.container.name.trim_start_matches('/').to_string();
        let mut container = r.container.clone();
        // As each engine's CLI prints it (what OVS external-ids carry):
        // Docker's with a leading `/`, Podman's without.
        if self.engine == Engine::Podman {
            container.name = name.clone();
        }
        let guest = match guest::of_container(r.pid, container, &name) {
            Ok(g) => g,
            Err(e) => return log(&format!("{name}: {e:#}")),
        };
        let rules = self.rules_for(r);
        if let Ok(m) = guest.netns.metadata() {
            let ovs_dbs = rules.iter().map(|rule| rule.attach.ovs.db.clone()).collect();
            self.tracked
                .insert(r.container.id.clone(), Tracked { name: name.clone(), netns: (m.dev(), m.ino()), ovs_dbs });
        }
        let mut given: HashMap<String, String> = HashMap::new();
        for rule in rules {
            let started = Instant::now();
            match ensure(&rule, &guest, &given) {
                Ok((guest_if, done)) => {
                    let after =
                        since.map(|t| format!(", {} after the start event", ms(since_epoch(t)))).unwrap_or_default();
                    match done {
                        Done::Attached => log(&format!(
                            "{name}: attached {guest_if} ({}) in {}{after}",
                            rule.origin,
                            ms(started.elapsed())
                        )),
                        Done::Corrected(why) => log(&format!(
                            "{name}: corrected {guest_if} ({}): {why}; made again in {}{after}",
                            rule.origin,
                            ms(started.elapsed())
                        )),
                        Done::AsAsked => log(&format!("{name}: {guest_if} already as asked ({})", rule.origin)),
                    }
                    given.insert(guest_if, rule.origin.clone());
                }
                Err(e) => log(&format!("{name}: {}: {e:#}", rule.origin)),
            }
        }
    }

    /// What a container that stopped leaves behind: DHCP clients renewing in
    /// its namespace (they hold it, and its veth, alive) and its OVS ports.
    fn clean(&mut self, id: &str, what: &str) {
        let started = Instant::now();
        let name = self.tracked.get(id).map_or_else(|| short(id).to_string(), |t| t.name.clone());
        let mut cleaned = Vec::new();
        if let Some(t) = self.tracked.get(id) {
            match detach::stop_dhcp_clients_in(t.netns) {
                Ok(stopped) => cleaned.extend(stopped.into_iter().map(|c| format!("stopped DHCP client ({c})"))),
                Err(e) => log(&format!("{name}: {e:#}")),
            }
        }
        for vswitch in self.vswitches() {
            match vswitch.container_ports() {
                Ok(ports) => {
                    for (port, _) in ports.into_iter().filter(|(_, of)| of == id) {
                        match kinds::forget_logical_port(&vswitch, &port) {
                            Ok(Some(lsp)) => cleaned.push(format!("removed OVN logical switch port {lsp}")),
                            Ok(None) => {}
                            Err(e) => log(&format!("{name}: {e:#}")),
                        }
                        match vswitch.del_port_anywhere(&port) {
                            Ok(_) => cleaned.push(format!("removed OVS port {port}")),
                            Err(e) => log(&format!("{name}: {e:#}")),
                        }
                    }
                }
                Err(e) if unreachable(&e) => {}
                Err(e) => log(&format!("{name}: {e:#}")),
            }
        }
        if cleaned.is_empty() {
            log(&format!("{name}: {what}; nothing to clean"));
        } else {
            log(&format!("{name}: {what}; {} in {}", cleaned.join(", "), ms(started.elapsed())));
        }
    }

    /// OVS ports an attach marked with a container that is not running, and
    /// whose device is gone: the rows containers that stopped while nobody
    /// watched left in the database for ever.
    fn clean_orphan_ports(&self, running: &HashSet<&str>) {
        let Ok(host_nl) = Netlink::connect() else { return };
        for vswitch in self.vswitches() {
            let ports = match vswitch.container_ports() {
                Ok(p) => p,
                Err(e) if unreachable(&e) => continue,
                Err(e) => {
                    log(&format!("{e:#}"));
                    continue;
                }
            };
            for (port, id) in ports {
                if running.contains(id.as_str()) || host_nl.link(&port).ok().flatten().is_some() {
                    continue;
                }
                if let Err(e) = kinds::forget_logical_port(&vswitch, &port) {
                    log(&format!("{e:#}"));
                }
                match vswitch.del_port_anywhere(&port) {
                    Ok(_) => log(&format!("{}: not running; removed its OVS port {port}", short(&id))),
                    Err(e) => log(&format!("{e:#}")),
                }
            }
        }
    }

    /// Open vSwitch's database for each server FILE's lines and the followed
    /// containers' labels name (the default one too), where one may answer.
    fn vswitches(&self) -> Vec<Vswitch> {
        let named = self.file_rules.iter().map(|r| &r.attach.ovs.db);
        let tracked = self.tracked.values().flat_map(|t| &t.ovs_dbs);
        let mut dbs: Vec<Option<&str>> = vec![None];
        for db in named.chain(tracked).map(Option::as_deref) {
            if !dbs.contains(&db) {
                dbs.push(db);
            }
        }
        dbs.into_iter().filter_map(Vswitch::find).collect()
    }
}

/// What `ensure` did.
enum Done {
    Attached,
    AsAsked,
    Corrected(String),
}

/// One rule on one container: attach it unless it is there as asked; take
/// away and make again what differs. Two rules for one interface: the first
/// wins.
fn ensure(rule: &Rule, guest: &Guest, given: &HashMap<String, String>) -> Result<(String, Done)> {
    let req = &rule.attach;
    let host_nl = Netlink::connect()?;
    let guest_nl = host_nl.open_in(&guest.netns).context("opening netlink inside the guest")?;
    let vswitch = Vswitch::find(req.ovs.db.as_deref());
    let (state, guest_if) = check::check(req, &host_nl, &guest_nl, &guest.netns, vswitch.as_ref())?;
    if let Some(first) = given.get(&guest_if) {
        bail!("{first} already gives it {guest_if}; this line is skipped");
    }
    let done = match state {
        State::AsAsked => return Ok((guest_if, Done::AsAsked)),
        State::Absent => Done::Attached,
        State::Differs(why) => {
            let steps = detach::steps(guest, &guest_if, &host_nl, &guest_nl, vswitch.as_ref())?;
            detach::run_steps(&steps, guest, &host_nl, &guest_nl, vswitch.as_ref())?;
            Done::Corrected(why)
        }
    };
    attach::onto(req, guest, &host_nl, &guest_nl, vswitch.as_ref(), false)?;
    Ok((guest_if, done))
}

/// How long ago a time in nanoseconds since the epoch was.
fn since_epoch(t: u128) -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    Duration::from_nanos(now.saturating_sub(t).min(u64::MAX as u128) as u64)
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// No ovsdb-server answers: no OVS here to clean.
fn unreachable(e: &anyhow::Error) -> bool {
    crate::sys::ovsdb::find_error(e).is_some_and(crate::sys::ovsdb::Error::is_not_running)
}

/// What woke the watch besides an event.
enum Wake {
    Stop(Signal),
    Reload,
}

/// TERM, INT, HUP and CHLD, as they arrive, acted on between actions: an
/// attach under way always finishes (nothing half-made), then the watch
/// stops or reloads.
struct Signals {
    arrivals: Arrivals,
}

impl Signals {
    fn catch() -> Result<Signals> {
        let arrivals = Arrivals::catch(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGCHLD])?;
        Ok(Signals { arrivals })
    }

    /// A signal that came, if any. Children that ended (DHCP clients, the
    /// socket closer an announcement forks) are reaped on the way: a watch
    /// lives long, and they are its children.
    fn take(&mut self) -> Result<Option<Wake>> {
        let mut wake = None;
        for sig in self.arrivals.take() {
            match sig {
                Signal::SIGCHLD => reap_children(),
                Signal::SIGHUP => wake = wake.or(Some(Wake::Reload)),
                s => return Ok(Some(Wake::Stop(s))),
            }
        }
        Ok(wake)
    }

    /// Sleeps until a signal or the pause is over.
    fn wait(&mut self, pause: Duration) -> Result<Option<Wake>> {
        let until = Instant::now() + pause;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let mut fds = [PollFd::new(self.arrivals.as_fd(), PollFlags::POLLIN)];
            poll_retrying(&mut fds, PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX))?;
            if let Some(w) = self.take()? {
                return Ok(Some(w));
            }
        }
    }

    /// Sleeps until a signal or an event (then None).
    fn wait_with(&mut self, events: &Events) -> Result<Option<Wake>> {
        loop {
            let mut fds =
                [PollFd::new(self.arrivals.as_fd(), PollFlags::POLLIN), PollFd::new(events.as_fd(), PollFlags::POLLIN)];
            poll_retrying(&mut fds, PollTimeout::NONE)?;
            let event = fds[1].any().unwrap_or(true);
            if let Some(w) = self.take()? {
                return Ok(Some(w));
            }
            if event {
                return Ok(None);
            }
        }
    }
}

/// Collects every child that has ended, without waiting for the others.
fn reap_children() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

fn poll_retrying(fds: &mut [PollFd], timeout: PollTimeout) -> Result<()> {
    loop {
        match poll(fds, timeout) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("waiting for events"),
        }
    }
}
