//! GUEST → an open network namespace, plus what we know of the container.
//!
//! Order for a plain word, as the reference and then beyond it: an LXC
//! container (cgroup v1 hosts only), a PID, a name under /var/run/netns, a
//! Docker container. Explicit `pid:`, `netns:`, `docker:` prefixes and paths
//! skip the guessing.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::engines::{self, Engine, AUTO_ORDER};
use crate::netns;
use crate::plan::GuestNames;
use crate::request::GuestRef;

pub const NETNS_DIR: &str = "/var/run/netns";

#[derive(Debug)]
pub struct Guest {
    pub netns: File,
    /// The reference's NSPID: it appears in device names. For a namespace
    /// known only by name or path, the namespace's inode number stands in.
    pub name_id: u64,
    /// The process the namespace was found through, when there is one.
    pub pid: Option<u32>,
    /// The word the user typed: DHCP hostname, OVS external-ids.
    pub label: String,
    pub container: Option<Container>,
    /// Its name under /var/run/netns, when it was found there.
    pub netns_name: Option<String>,
}

impl Guest {
    /// How `--dry-run` lines reach this guest.
    pub fn names(&self) -> GuestNames {
        match (self.pid, &self.netns_name) {
            (Some(pid), _) => GuestNames::pid(pid),
            (None, Some(name)) => GuestNames::named(name),
            (None, None) => GuestNames::path(&self.label),
        }
    }
}

/// Docker's view of the guest, for OVS external-ids.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    /// Verbatim, leading `/` included: the reference stores it that way in
    /// `pipework.containername`, and scripts search OVS for that value.
    pub name: String,
}

pub fn resolve(r: &GuestRef) -> Result<Guest> {
    let g = match r {
        GuestRef::Pid(pid) => from_pid(*pid, r.to_string())?,
        GuestRef::NetnsName(n) => from_path(&Path::new(NETNS_DIR).join(n), n.clone())?,
        GuestRef::NetnsPath(p) => from_path(p, p.display().to_string())?,
        GuestRef::Engine(e, n) => from_engines(&[*e], n)?,
        GuestRef::Auto(word) => from_word(word)?,
    };
    let host = netns::current()?;
    if netns::same(&g.netns, &host)? {
        bail!(
            "guest '{}' shares this host's network namespace (a --network host container?); \
             pipework only plumbs guests that have their own",
            g.label
        );
    }
    Ok(g)
}

fn from_word(word: &str) -> Result<Guest> {
    if let Some(pid) = lxc_pid(word)? {
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
    from_engines(&AUTO_ORDER, word)
}

fn from_pid(pid: u32, label: String) -> Result<Guest> {
    let path = format!("/proc/{pid}/ns/net");
    let netns = File::open(&path).with_context(|| {
        format!("cannot open the network namespace of process {pid} ({path}); is it running?")
    })?;
    Ok(Guest { netns, name_id: pid.into(), pid: Some(pid), label, container: None, netns_name: None })
}

fn from_path(path: &Path, label: String) -> Result<Guest> {
    let netns = File::open(path)
        .with_context(|| format!("cannot open network namespace file {}", path.display()))?;
    let meta = netns.metadata()?;
    if !is_nsfs(&netns) {
        bail!("{} is not a network namespace (expected a file like /proc/PID/ns/net or /var/run/netns/NAME)", path.display());
    }
    let netns_name = (path.parent() == Some(Path::new(NETNS_DIR)))
        .then(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .flatten();
    Ok(Guest { netns, name_id: meta.ino(), pid: None, label, container: None, netns_name })
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

/// A container name, asked of one engine, or of each in turn.
fn from_engines(engines: &[Engine], name: &str) -> Result<Guest> {
    let mut unknown = Vec::new();
    for &engine in engines {
        match engines::ask(engine, name)? {
            engines::Answer::Running(pid, container) => {
                let mut g = from_pid(pid, name.to_string())?;
                g.container = Some(container);
                return Ok(g);
            }
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

/// The reference's LXC lookup: only on hosts with a cgroup v1 hierarchy that
/// has the `devices` controller; a directory named GUEST in it, whose `tasks`
/// gives the PID. `lxc.monitor` directories of the same name do not count.
fn lxc_pid(name: &str) -> Result<Option<u32>> {
    let Some(root) = devices_cgroup_mount()? else {
        return Ok(None);
    };
    let mut found = Vec::new();
    find_dirs(&root, name, 0, &mut found);
    found.retain(|p| !p.to_string_lossy().contains("lxc.monitor"));
    match found.as_slice() {
        [] => Ok(None),
        [dir] => {
            let tasks = fs::read_to_string(dir.join("tasks")).unwrap_or_default();
            match tasks.lines().next().and_then(|l| l.trim().parse().ok()) {
                Some(pid) => Ok(Some(pid)),
                None => bail!("found LXC container '{name}' at {}, but no process runs in it", dir.display()),
            }
        }
        _ => bail!("found more than one container matching '{name}' under {}", root.display()),
    }
}

fn devices_cgroup_mount() -> Result<Option<PathBuf>> {
    let info = fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    Ok(find_devices_cgroup(&info))
}

/// mountinfo: `id parent maj:min root mountpoint opts… - fstype source superopts`.
fn find_devices_cgroup(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mountpoint = left.split(' ').nth(4)?;
        let mut r = right.split(' ');
        let fstype = r.next()?;
        let superopts = r.nth(1)?;
        (fstype == "cgroup" && superopts.split(',').any(|o| o == "devices")).then(|| PathBuf::from(mountpoint))
    })
}

fn find_dirs(dir: &Path, name: &str, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > 8 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            let p = e.path();
            if e.file_name() == name {
                out.push(p.clone());
            }
            find_dirs(&p, name, depth + 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_v1_devices_mount() {
        let v1 = "30 25 0:26 / /sys/fs/cgroup/devices rw,nosuid shared:12 - cgroup cgroup rw,devices\n";
        assert_eq!(find_devices_cgroup(v1), Some(PathBuf::from("/sys/fs/cgroup/devices")));
        let v2 = "30 25 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(find_devices_cgroup(v2), None);
    }
}
