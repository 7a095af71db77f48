//! The reference's LXC lookup: only on hosts with a cgroup v1 hierarchy that
//! has the `devices` controller.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The devices cgroup tree, walked once: every directory by its name. A
/// batch of a thousand names looks each up here instead of walking the tree
/// (a thousand Docker containers' directories) a thousand times.
#[derive(Default)]
pub struct Index {
    root: Option<PathBuf>,
    dirs: HashMap<OsString, Vec<PathBuf>>,
}

impl Index {
    /// Empty on hosts without a cgroup v1 `devices` hierarchy.
    pub fn read() -> Result<Index> {
        let Some(root) = devices_cgroup_mount()? else { return Ok(Index::default()) };
        let mut dirs = HashMap::new();
        walk(&root, 0, &mut dirs);
        Ok(Index { root: Some(root), dirs })
    }

    /// The reference's LXC lookup: a directory named GUEST in the devices
    /// cgroup tree, whose `tasks` gives the PID. `lxc.monitor` directories
    /// of the same name do not count.
    pub fn pid(&self, name: &str) -> Result<Option<u32>> {
        let Some(root) = &self.root else { return Ok(None) };
        let mut found: Vec<&PathBuf> = self.dirs.get(OsStr::new(name)).map(|v| v.iter().collect()).unwrap_or_default();
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

fn walk(dir: &Path, depth: usize, out: &mut HashMap<OsString, Vec<PathBuf>>) {
    if depth > 8 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            let p = e.path();
            walk(&p, depth + 1, out);
            out.entry(e.file_name()).or_default().push(p);
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
