//! GUEST → an open network namespace, plus what we know of the container.
//!
//! Order for a plain word, as the reference and then beyond it: an LXC
//! container (cgroup v1 hosts only), a PID, a name under /var/run/netns, a
//! Docker container. Explicit `pid:`, `netns:`, `docker:` prefixes and paths
//! skip the guessing.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::request::{Engine, GuestRef};
use crate::sys::netns;
use crate::sys::pidfd::PidFd;

pub mod engine_api;
pub mod engines;
mod lxc;

pub use engines::Container;

pub const NETNS_DIR: &str = "/var/run/netns";

/// A guest, found: its network namespace, held open, and who it is.
#[derive(Debug)]
pub struct Guest {
    pub netns: File,
    pub identity: Identity,
    /// Its name under /var/run/netns, when it was found there.
    pub netns_name: Option<String>,
}

/// Who the guest is, as plain values: what device names, OVS external-ids,
/// DHCP hostnames and messages are made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The reference's NSPID: it appears in device names. For a namespace
    /// known only by name or path, the namespace's inode number stands in.
    pub nspid: u64,
    /// The process the namespace was found through, when there is one.
    pub pid: Option<u32>,
    /// The word the user typed: DHCP hostname, messages.
    pub label: String,
    /// The engine's view, when a container engine named it.
    pub container: Option<Container>,
}

impl Guest {
    /// How `--dry-run` lines reach this guest.
    pub fn names(&self) -> GuestNames {
        match (self.identity.pid, &self.netns_name) {
            (Some(pid), _) => GuestNames::pid(pid),
            (None, Some(name)) => GuestNames::named(name),
            (None, None) => GuestNames::path(&self.identity.label),
        }
    }

    /// The guest as the user named it.
    pub fn label(&self) -> &str {
        &self.identity.label
    }
}

/// How printed commands reach the guest's namespace, so that `--dry-run`
/// output can be pasted into a shell.
#[derive(Debug, Clone)]
pub struct GuestNames {
    /// Runs a program inside: `nsenter -t PID -n`, `ip netns exec NAME`.
    pub exec: String,
    /// `ip` inside: `ip -n NAME`, or `ip` under `exec`.
    pub ip: String,
    /// What `ip link … netns X` takes: a PID or a name.
    pub netns: String,
}

impl GuestNames {
    pub fn pid(pid: u32) -> GuestNames {
        GuestNames {
            exec: format!("nsenter -t {pid} -n"),
            ip: format!("nsenter -t {pid} -n ip"),
            netns: pid.to_string(),
        }
    }

    pub fn named(name: &str) -> GuestNames {
        GuestNames { exec: format!("ip netns exec {name}"), ip: format!("ip -n {name}"), netns: name.to_string() }
    }

    /// A namespace known only by its file: `ip link … netns` cannot name it,
    /// so those lines show the path for the reader.
    pub fn path(path: &str) -> GuestNames {
        GuestNames {
            exec: format!("nsenter --net={path}"),
            ip: format!("nsenter --net={path} ip"),
            netns: path.to_string(),
        }
    }
}

/// One guest word, resolved alone.
pub fn resolve(r: &GuestRef) -> Result<Guest> {
    Resolver::new(false).resolve(r)
}

/// Resolves guest words, reading what many lookups share once: the LXC
/// cgroup tree, and for a batch (`bulk`) Docker's list of running containers.
pub struct Resolver {
    bulk: bool,
    lxc: Option<lxc::Index>,
    docker: Option<Option<engines::Directory>>,
}

impl Resolver {
    pub fn new(bulk: bool) -> Resolver {
        Resolver { bulk, lxc: None, docker: None }
    }

    pub fn resolve(&mut self, r: &GuestRef) -> Result<Guest> {
        let g = match r {
            GuestRef::Pid(pid) => from_pid(*pid, r.to_string())?,
            GuestRef::NetnsName(n) => from_path(&Path::new(NETNS_DIR).join(n), n.clone())?,
            GuestRef::NetnsPath(p) => from_path(p, p.display().to_string())?,
            GuestRef::Engine(e, n) => self.engines(&[*e], n)?,
            GuestRef::Auto(word) => self.word(word)?,
        };
        refuse_host_namespace(&g)?;
        Ok(g)
    }

    fn word(&mut self, word: &str) -> Result<Guest> {
        if self.lxc.is_none() {
            self.lxc = Some(lxc::Index::read()?);
        }
        if let Some(pid) = self.lxc.as_ref().and_then(|i| i.pid(word).transpose()).transpose()? {
            return from_pid(pid, word.to_string());
        }
        if word.len() <= 7 && word.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(pid) = word.parse::<u32>() {
                if Path::new(&format!("/proc/{pid}")).exists() {
                    return from_pid(pid, word.to_string());
                }
            }
        }
        let named = Path::new(NETNS_DIR).join(word);
        if named.exists() {
            return from_path(&named, word.to_string());
        }
        self.engines(&Engine::AUTO_ORDER, word)
    }

    /// A container name, asked of one engine, or of each in turn; in bulk,
    /// Docker's list answers first.
    fn engines(&mut self, engines: &[Engine], name: &str) -> Result<Guest> {
        if self.bulk && engines.contains(&Engine::Docker) {
            let dir = self.docker.get_or_insert_with(engines::Directory::docker);
            if let Some((pid, container)) = dir.as_ref().and_then(|d| d.get(name)) {
                return of_container(*pid, container.clone(), name);
            }
        }
        let mut unknown = Vec::new();
        for &engine in engines {
            match engines::ask(engine, name)? {
                engines::Answer::Running(pid, container) => return of_container(pid, container, name),
                engines::Answer::Unknown(why) => unknown.push(format!("{engine} ({why})")),
            }
        }
        let which = if engines.len() > 1 {
            "it is not an LXC container, a PID or a network namespace name, and is unknown to"
        } else {
            "it is unknown to"
        };
        bail!("container '{name}' not found: {which} {}", unknown.join(", "))
    }
}

/// A container an engine named, through its first process.
///
/// The engine's answer is a PID, and a PID is only a number: the container
/// may have stopped since, and the number gone to another process, whose
/// namespace we would then plumb. So the namespace is believed only when
/// the process it was opened through is shown to be the container's: a
/// pidfd pins the process first (a pidfd names one process, never a later
/// one with the same number), its cgroup must name the container's ID, the
/// namespace is opened, and the pidfd must show it still alive afterwards:
/// then the cgroup read and the namespace opened were that one process's.
/// (Where pidfds are missing, before Linux 5.3, the cgroup check alone
/// remains, after the namespace is opened.)
pub fn of_container(pid: u32, container: Container, label: &str) -> Result<Guest> {
    let pinned = PidFd::open(pid as i32);
    if !cgroup_names(pid, &container.id) {
        return Err(NotThatContainer::error(label, pid, &container.id));
    }
    let mut g = from_pid(pid, label.to_string())?;
    if !cgroup_names(pid, &container.id) || pinned.as_ref().is_some_and(PidFd::exited) {
        return Err(NotThatContainer::error(label, pid, &container.id));
    }
    g.identity.container = Some(container);
    refuse_host_namespace(&g)?;
    Ok(g)
}

/// The process an engine named is not (or no longer) in the container the
/// engine said: it stopped, and its PID may now be another's. Nothing may
/// be done to that namespace; `--detach` says so instead of "nothing to do".
#[derive(Debug)]
pub struct NotThatContainer(String);

impl NotThatContainer {
    fn error(label: &str, pid: u32, id: &str) -> anyhow::Error {
        anyhow::Error::new(NotThatContainer(format!(
            "container '{label}': process {pid}, which the engine gave as its PID, is not in the container's \
             cgroup (its /proc/{pid}/cgroup does not name {}); the container may have stopped and the PID gone \
             to another process, so its namespace is left alone; nothing was changed (is the container running?)",
            &id[..id.len().min(12)]
        )))
    }
}

impl std::fmt::Display for NotThatContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotThatContainer {}

/// Whether process `pid`'s cgroup path names container `id` as a whole
/// word (`/docker/ID`, `docker-ID.scope`, `libpod-ID.scope`,
/// containerd's `/NAMESPACE/ID`): the one check every way a container's PID
/// is believed goes through (single attaches, detach, watch, batch).
pub fn cgroup_names(pid: u32, id: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else { return false };
    names_id(&text, id)
}

fn names_id(cgroups: &str, id: &str) -> bool {
    if id.is_empty() {
        return false;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    cgroups.lines().filter_map(|l| l.splitn(3, ':').nth(2)).any(|path| {
        path.match_indices(id)
            .any(|(at, _)| !word(path[..at].chars().last()) && !word(path[at + id.len()..].chars().next()))
    })
}

/// A guest in our own network namespace (a `--network host` container) is
/// the host: nothing of it is ours to plumb.
fn refuse_host_namespace(g: &Guest) -> Result<()> {
    if netns::same(&g.netns, &netns::current()?)? {
        bail!(
            "guest '{}' shares this host's network namespace (a --network host container?); \
             pipework only plumbs guests that have their own",
            g.label()
        );
    }
    Ok(())
}

fn from_pid(pid: u32, label: String) -> Result<Guest> {
    let path = format!("/proc/{pid}/ns/net");
    let netns = File::open(&path)
        .with_context(|| format!("cannot open the network namespace of process {pid} ({path}); is it running?"))?;
    let identity = Identity { nspid: pid.into(), pid: Some(pid), label, container: None };
    Ok(Guest { netns, identity, netns_name: None })
}

fn from_path(path: &Path, label: String) -> Result<Guest> {
    let netns = File::open(path).with_context(|| format!("cannot open network namespace file {}", path.display()))?;
    let meta = netns.metadata()?;
    if !is_nsfs(&netns) {
        bail!(
            "{} is not a network namespace (expected a file like /proc/PID/ns/net or /var/run/netns/NAME)",
            path.display()
        );
    }
    let netns_name = (path.parent() == Some(Path::new(NETNS_DIR)))
        .then(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .flatten();
    let identity = Identity { nspid: meta.ino(), pid: None, label, container: None };
    Ok(Guest { netns, identity, netns_name })
}

/// A namespace file lives on nsfs (a bind mount of it under /var/run/netns,
/// or /proc/PID/ns/net); anything else is a mistake.
fn is_nsfs(f: &File) -> bool {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    // SAFETY: statfs is plain data, filled by the kernel for a valid fd.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstatfs(std::os::fd::AsRawFd::as_raw_fd(f), &mut st) };
    rc == 0 && st.f_type as i64 == NSFS_MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_names_a_container_as_a_whole_word() {
        let id = "0123456789abcdef";
        let v1 = "12:pids:/docker/0123456789abcdef\n1:name=systemd:/docker/0123456789abcdef\n";
        assert!(names_id(v1, id));
        assert!(names_id("0::/system.slice/docker-0123456789abcdef.scope\n", id));
        assert!(names_id("0::/machine.slice/libpod-0123456789abcdef.scope/container\n", id));
        assert!(names_id("0::/default/web1\n", "web1"));
        // A longer ID that begins with this one, a prefix of it, another
        // container, the host, an empty ID: not this container.
        assert!(!names_id("0::/docker/0123456789abcdef00\n", id));
        assert!(!names_id("0::/docker/0123456789abcdef\n", "0123456789abcde"));
        assert!(!names_id("0::/docker/fedcba9876543210\n", id));
        assert!(!names_id("0::/user.slice/session-3.scope\n", id));
        assert!(!names_id("0::/\n", ""));
        // The controller list is not the path.
        assert!(!names_id("3:web1:/\n", "web1"));
    }

    #[test]
    fn a_process_outside_the_container_is_refused() {
        let me = std::process::id();
        let e =
            of_container(me, Container { id: "0123456789abcdef".into(), name: "/web1".into() }, "web1").unwrap_err();
        assert!(e.is::<NotThatContainer>(), "{e:#}");
        assert!(format!("{e:#}").contains("is not in the container's cgroup"), "{e:#}");
    }
}
