//! DHCP: the guest's address from a server, by one of the reference's client
//! programs (run inside the guest's namespace, or in a throw-away busybox
//! container for `dhcp`) or by our own client (`dhcp_builtin`).
//!
//! Whatever the method, success means the interface holds an IPv4 address
//! when the client is done, within the time allowed; anything else stops the
//! client and fails the step, and the attach is undone.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::PathBuf;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::dhcp_builtin;
use crate::guest_exec::{self, Isolation};
use crate::netlink::Netlink;
use crate::request::DhcpMethod;

/// Everything a DHCP step needs, decided before anything changes.
#[derive(Debug, Clone, PartialEq)]
pub struct DhcpSpec {
    /// GUESTIF.
    pub link: String,
    pub method: DhcpMethod,
    /// `:OPTIONS`, split on spaces, appended to the client's arguments.
    pub options: Vec<String>,
    /// The guest's name as typed: the hostname the client sends.
    pub hostname: String,
    /// Docker container ID (for `dhcp`).
    pub container: Option<String>,
    /// The guest's PID, when known: the renewing built-in client ends with it.
    pub guest_pid: Option<u32>,
    pub timeout: Duration,
}

/// The Debian package that provides each client, for "not installed" errors.
pub fn package_of(program: &str) -> &'static str {
    match program {
        "udhcpc" => "udhcpc (or busybox)",
        "dhclient" => "isc-dhcp-client",
        "dhcpcd" => "dhcpcd-base",
        "docker" => "docker.io",
        _ => "the one that provides it",
    }
}

impl DhcpSpec {
    /// The reference's file names carry the guest's name; a path-like name
    /// cannot be part of a file name.
    fn file_tag(&self) -> String {
        self.hostname.replace('/', "_")
    }

    pub fn pid_file(&self) -> Option<PathBuf> {
        let tag = self.file_tag();
        match self.method {
            DhcpMethod::Udhcpc { .. } => Some(format!("/var/run/udhcpc.{tag}.pid").into()),
            DhcpMethod::Dhclient { .. } => Some(format!("/var/run/dhclient.{tag}.pid").into()),
            DhcpMethod::Builtin { renew: true } => Some(dhcp_builtin::pid_file(&tag, &self.link)),
            _ => None,
        }
    }

    fn lease_file(&self) -> PathBuf {
        format!("/etc/dhclient/dhclient.{}.leases", self.file_tag()).into()
    }

    /// dhcpcd keeps its lease as /var/lib/dhcpcd/IF.lease and its pid file
    /// under /run/dhcpcd: shared by every guest's eth1, one guest would
    /// start from another's lease (on another network, perhaps) or be taken
    /// for a running instance. Its runs here stop after the lease anyway.
    fn private_dirs(&self) -> &'static [&'static str] {
        match self.method {
            DhcpMethod::Dhcpcd => &["/var/lib/dhcpcd", "/run/dhcpcd"],
            _ => &[],
        }
    }

    /// Name of the throw-away container of the `dhcp` method.
    fn helper_container(&self) -> String {
        let id = self.container.as_deref().unwrap_or("guest");
        format!("pipework-dhcp-{}-{}", &id[..id.len().min(12)], self.link)
    }

    /// The program and its arguments; None for the built-in client.
    /// udhcpc without -f stays in the foreground until it has a lease (-q:
    /// then exits; without it, goes to the background and renews). dhclient
    /// backgrounds itself once it has a lease; the non-renewing form is then
    /// stopped through its pid file, as the reference does. dhcpcd -1 exits
    /// once the interface is configured.
    pub fn client_command(&self) -> Option<(&'static str, Vec<String>)> {
        let (i, h) = (self.link.clone(), self.hostname.clone());
        let pid = || self.pid_file().map(|p| p.display().to_string()).unwrap_or_default();
        let program = self.method.program()?;
        let mut args: Vec<String> = match self.method {
            DhcpMethod::DockerBusybox => vec![
                "run".into(),
                "--rm".into(),
                "--name".into(),
                self.helper_container(),
                "--net".into(),
                format!("container:{}", self.container.as_deref().unwrap_or("")),
                "--cap-add".into(),
                "NET_ADMIN".into(),
                "busybox".into(),
                "udhcpc".into(),
                "-q".into(),
                "-f".into(),
                "-i".into(),
                i,
                "-x".into(),
                format!("hostname:{h}"),
            ],
            DhcpMethod::Udhcpc { renew } => {
                let mut a = if renew { vec![] } else { vec!["-q".to_string()] };
                a.extend(["-i".into(), i, "-x".into(), format!("hostname:{h}"), "-p".into(), pid()]);
                a
            }
            DhcpMethod::Dhclient { .. } => {
                vec![i, "-pf".into(), pid(), "-lf".into(), self.lease_file().display().to_string()]
            }
            // -I '': a client ID from the MAC, as the other clients send,
            // rather than a DUID: a U: MAC then gets its lease back.
            DhcpMethod::Dhcpcd => vec!["-q".into(), "-1".into(), "-I".into(), String::new(), i, "-h".into(), h],
            DhcpMethod::Builtin { .. } => return None,
        };
        args.extend(self.options.iter().cloned());
        Some((program, args))
    }

    /// What `--dry-run` and the plan tests show for this step; `exec` runs
    /// a program in the guest (`nsenter -t PID -n`).
    pub fn describe(&self, exec: &str) -> String {
        match self.client_command() {
            Some(("docker", args)) => format!("docker {}", shell_words(&args)),
            Some((program, args)) => format!("{exec} {program} {}", shell_words(&args)),
            None => format!(
                "# pipework's built-in DHCPv4 client on {} ({exec}){}",
                self.link,
                if matches!(self.method, DhcpMethod::Builtin { renew: true }) { ", renewing in the background" } else { "" }
            ),
        }
    }
}

/// Arguments as a shell would need them typed (only empty or spaced ones
/// need quotes here).
fn shell_words(args: &[String]) -> String {
    let quoted: Vec<String> =
        args.iter().map(|a| if a.is_empty() || a.contains(' ') { format!("'{a}'") } else { a.clone() }).collect();
    quoted.join(" ")
}

/// Obtain and apply a lease on `link` (index `index` in the guest).
pub async fn obtain(spec: &DhcpSpec, guest_ns: &File, guest: &Netlink, index: u32) -> Result<()> {
    match spec.method {
        DhcpMethod::Builtin { renew } => dhcp_builtin::obtain(spec, guest_ns, renew).await?,
        _ => run_client(spec, guest_ns).await?,
    }
    // A link-local 169.254/16 address is what dhcpcd falls back to without
    // a server: not a lease.
    let leased = guest.ipv4_addresses(index).await?.iter().any(|a| !a.addr().is_link_local());
    if !leased {
        stop_background_client(spec);
        bail!("the DHCP client ({}) finished, but {} has no IPv4 address: no lease", spec.method.keyword(), spec.link);
    }
    Ok(())
}

/// Stops a client that may have gone to the background, by its pid file, and
/// removes the file.
pub fn stop_background_client(spec: &DhcpSpec) {
    let Some(path) = spec.pid_file() else { return };
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(pid) = text.trim().parse::<i32>() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let _ = std::fs::remove_file(&path);
}

async fn run_client(spec: &DhcpSpec, guest_ns: &File) -> Result<()> {
    let (program, args) = spec.client_command().context("no client program for this method")?;
    let path = which::which(program).map_err(|_| {
        anyhow!("the DHCP client {program} is not installed (Debian/Ubuntu package: {})", package_of(program))
    })?;
    if matches!(spec.method, DhcpMethod::Dhclient { .. }) {
        std::fs::create_dir_all("/etc/dhclient").context("creating /etc/dhclient for dhclient's lease file")?;
    }
    let mut cmd = match spec.method {
        DhcpMethod::DockerBusybox => {
            let mut c = Command::new(&path);
            c.process_group(0);
            c
        }
        _ => guest_exec::command(
            &path,
            guest_ns,
            Isolation::Client { hostname: spec.hostname.clone(), private_dirs: spec.private_dirs() },
        ),
    };
    // The client's chatter goes to memory, shown only if it fails. A client
    // that stays in the background keeps the file; it writes little.
    let log = memfd().context("creating a buffer for the client's output")?;
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log.try_clone()?));
    let mut child = cmd.spawn().with_context(|| format!("starting {program}"))?;

    let finished = wait_bounded(&mut child, spec.timeout).await?;
    let Some(status) = finished else {
        stop(&mut child, spec);
        bail!(
            "no DHCP lease on {} within {} s ({} got no answer{}); is a DHCP server on that network? \
             (--dhcp-timeout changes the limit)",
            spec.link,
            spec.timeout.as_secs(),
            program,
            tail(&log).map(|t| format!(": {t}")).unwrap_or_default()
        );
    };
    if !status.success() {
        stop_background_client(spec);
        bail!(
            "the DHCP client {program} failed ({status}){}",
            tail(&log).map(|t| format!(": {t}")).unwrap_or_default()
        );
    }
    if matches!(spec.method, DhcpMethod::Dhclient { renew: false }) {
        // Went to the background with the lease; the reference stops it.
        stop_background_client(spec);
    }
    Ok(())
}

/// Waits for the client's foreground process; None when time ran out.
async fn wait_bounded(child: &mut Child, limit: Duration) -> Result<Option<std::process::ExitStatus>> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().context("waiting for the DHCP client")? {
            return Ok(Some(s));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Ends a client that overran: its process group (scripts included), the
/// helper container for `dhcp`, and any pid file.
fn stop(child: &mut Child, spec: &DhcpSpec) {
    let pgid = Pid::from_raw(child.id() as i32);
    if spec.method == DhcpMethod::DockerBusybox {
        if let Ok(docker) = which::which("docker") {
            let _ = Command::new(docker)
                .args(["rm", "-f", &spec.helper_container()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
    let _ = killpg(pgid, Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(100));
    let _ = killpg(pgid, Signal::SIGKILL);
    let _ = child.wait();
    stop_background_client(spec);
}

fn memfd() -> Result<File> {
    let fd = nix::sys::memfd::memfd_create(c"pipework-dhcp", nix::sys::memfd::MFdFlags::empty())?;
    Ok(File::from(fd))
}

/// The last lines of the client's output, on one line.
fn tail(log: &File) -> Option<String> {
    let mut f = log.try_clone().ok()?;
    f.rewind().ok()?;
    let mut text = String::new();
    f.read_to_string(&mut text).ok()?;
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let last = lines[lines.len().saturating_sub(3)..].join(" / ");
    (!last.is_empty()).then_some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(method: DhcpMethod) -> DhcpSpec {
        DhcpSpec {
            link: "eth1".into(),
            method,
            options: vec!["-t".into(), "5".into()],
            hostname: "web1".into(),
            container: Some("0123456789abcdef".into()),
            guest_pid: Some(42),
            timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn reference_command_lines() {
        let line = |m| spec(m).describe("ip netns exec 42");
        assert_eq!(
            line(DhcpMethod::Udhcpc { renew: false }),
            "ip netns exec 42 udhcpc -q -i eth1 -x hostname:web1 -p /var/run/udhcpc.web1.pid -t 5"
        );
        assert_eq!(
            line(DhcpMethod::Udhcpc { renew: true }),
            "ip netns exec 42 udhcpc -i eth1 -x hostname:web1 -p /var/run/udhcpc.web1.pid -t 5"
        );
        assert_eq!(
            line(DhcpMethod::Dhclient { renew: true }),
            "ip netns exec 42 dhclient eth1 -pf /var/run/dhclient.web1.pid -lf /etc/dhclient/dhclient.web1.leases -t 5"
        );
        assert_eq!(line(DhcpMethod::Dhcpcd), "ip netns exec 42 dhcpcd -q -1 -I '' eth1 -h web1 -t 5");
        assert_eq!(
            line(DhcpMethod::DockerBusybox),
            "docker run --rm --name pipework-dhcp-0123456789ab-eth1 --net container:0123456789abcdef \
             --cap-add NET_ADMIN busybox udhcpc -q -f -i eth1 -x hostname:web1 -t 5"
        );
    }

    #[test]
    fn path_like_guest_names_make_flat_file_names() {
        let mut s = spec(DhcpMethod::Udhcpc { renew: false });
        s.hostname = "/run/netns/blue".into();
        assert_eq!(s.pid_file().unwrap(), PathBuf::from("/var/run/udhcpc._run_netns_blue.pid"));
    }
}
