//! The reference's LXC lookup: only on hosts with a cgroup v1 hierarchy that
//! has the `devices` controller.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The reference's LXC lookup: only on hosts with a cgroup v1 hierarchy that
/// has the `devices` controller; a directory named GUEST in it, whose `tasks`
/// gives the PID. `lxc.monitor` directories of the same name do not count.
pub fn pid(name: &str) -> Result<Option<u32>> {
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
