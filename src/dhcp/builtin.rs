//! `builtin-dhcp[-f]`: a DHCPv4 client that needs nothing installed, built on
//! the mozim crate. It applies the address (with the server's prefix) and the
//! default route, and writes nothing else: no resolv.conf, no hostname.
//!
//! The client runs as a second pipework process, started from our own
//! executable with `PIPEWORK_DHCP_CHILD` set, so that the `-f` form can stay
//! behind and renew after the attach returns. It lives in the guest's
//! network namespace (received as fd 3) and reports the first lease, or why
//! there is none, on a pipe (fd 4). The renewing form then ends when the
//! guest's process exits or the interface disappears.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ipnet::{IpNet, Ipv4Net};
use mozim::{DhcpV4Client, DhcpV4Config, DhcpV4Lease, DhcpV4State};
use nix::fcntl::OFlag;
use nix::sched::{setns, CloneFlags};

use crate::dhcp::spec::DhcpSpec;
use crate::sys::netlink::{errno, Netlink};
use crate::sys::pidfd::PidFd;
use crate::sys::signals;

/// Marks the process as the client; the values travel in these variables.
pub const CHILD_ENV: &str = "PIPEWORK_DHCP_CHILD";
const NS_FD: i32 = 3;
const REPORT_FD: i32 = 4;

/// Parent side: start the client process and wait for its first report.
pub fn obtain(spec: &DhcpSpec, guest_ns: &File, renew: bool) -> Result<()> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).context("creating a pipe")?;
    let ns = guest_ns.as_fd().as_raw_fd();
    let w = write.as_raw_fd();
    let exe = std::env::current_exe().context("finding our own executable")?;
    let mut cmd = Command::new(exe);
    // What ps shows for a client renewing in the background.
    cmd.arg0(format!("pipework-dhcp {}", spec.link))
        .env(CHILD_ENV, "1")
        .env("PIPEWORK_DHCP_IF", &spec.link)
        .env("PIPEWORK_DHCP_HOSTNAME", &spec.hostname)
        .env("PIPEWORK_DHCP_TIMEOUT", spec.timeout.as_secs().to_string())
        .env("PIPEWORK_DHCP_RENEW", if renew { "1" } else { "" })
        .env("PIPEWORK_DHCP_GUEST_PID", spec.guest_pid.map(|p| p.to_string()).unwrap_or_default())
        .env("PIPEWORK_DHCP_PID_FILE", spec.pid_file().unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: fcntl, dup2, close and setsid are async-signal-safe; both fds
    // stay open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            // Each source is first copied above the targets: a source may
            // itself be fd 3 or 4 (dup2 onto itself would keep its
            // close-on-exec flag, and the first dup2 could overwrite the
            // second source). Copies made by F_DUPFD and dup2 do not close
            // on exec.
            let high = [libc::fcntl(ns, libc::F_DUPFD, 10), libc::fcntl(w, libc::F_DUPFD, 10)];
            for (from, to) in high.into_iter().zip([NS_FD, REPORT_FD]) {
                if from < 0 || libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(from);
            }
            // Its own session: it may outlive us, and a terminal's ^C on
            // pipework must not reach a renewing client later.
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting the built-in DHCP client")?;
    drop(write);

    // The client enforces the limit itself; this margin covers its start.
    let deadline = Instant::now() + spec.timeout + Duration::from_secs(2);
    let mut pipe = File::from(read);
    let mut report = String::new();
    loop {
        let mut buf = [0u8; 512];
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => report.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("reading the DHCP client's report"),
        }
        if report.contains('\n') {
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the built-in DHCP client did not report within {} s", spec.timeout.as_secs());
        }
        if let Err(e) = signals::check() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if !renew {
        let _ = child.wait();
    }
    match report.trim().split_once(' ') {
        Some(("ok", _)) => Ok(()),
        Some(("err", why)) => Err(anyhow!("{why}")),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err(anyhow!("the built-in DHCP client ended without a report"))
        }
    }
}

/// Child side, called from main before anything else when CHILD_ENV is set.
pub fn child_main() -> ExitCode {
    // SAFETY: the parent placed these two descriptors for us and nothing
    // else in this process owns them.
    let (ns, report) = unsafe { (OwnedFd::from_raw_fd(NS_FD), File::from_raw_fd(REPORT_FD)) };
    let mut report = Some(report);
    let result =
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).context("entering the guest's network namespace").and_then(|()| {
            drop(ns);
            run_client(&mut report)
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(mut r) = report.take() {
                let _ = writeln!(r, "err {}", format!("{e:#}").replace('\n', " "));
            }
            ExitCode::from(1)
        }
    }
}

struct Params {
    link: String,
    hostname: String,
    timeout: u32,
    renew: bool,
    guest_pid: Option<i32>,
    pid_file: Option<PathBuf>,
}

impl Params {
    fn from_env() -> Result<Params> {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Ok(Params {
            link: var("PIPEWORK_DHCP_IF"),
            hostname: var("PIPEWORK_DHCP_HOSTNAME"),
            timeout: var("PIPEWORK_DHCP_TIMEOUT").parse().context("bad PIPEWORK_DHCP_TIMEOUT")?,
            renew: !var("PIPEWORK_DHCP_RENEW").is_empty(),
            guest_pid: var("PIPEWORK_DHCP_GUEST_PID").parse().ok(),
            pid_file: Some(PathBuf::from(var("PIPEWORK_DHCP_PID_FILE"))).filter(|p| !p.as_os_str().is_empty()),
        })
    }
}

/// mozim is async: its sockets live on this runtime, which is driven only
/// to wait for the protocol; the address and route are applied between
/// waits, over the synchronous netlink door.
fn run_client(report: &mut Option<File>) -> Result<()> {
    let p = Params::from_env()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let nl = Netlink::connect()?;
    let link = nl.link(&p.link)?.with_context(|| format!("{} is not in the guest", p.link))?;
    let mac = link.mac.clone().with_context(|| format!("{} has no MAC address", p.link))?;

    let mut config = DhcpV4Config::new(&p.link);
    config.set_iface_index(link.index);
    config.set_iface_mac_raw(&mac).map_err(|e| anyhow!("{e}"))?;
    if !p.hostname.is_empty() {
        config.set_host_name(&p.hostname);
    }
    // Identified by MAC, like the other clients: a U: MAC gets its lease back.
    config.use_mac_as_client_id();
    config.set_timeout_sec(p.timeout);
    let mut client = rt.block_on(DhcpV4Client::init(config, None)).map_err(|e| anyhow!("{e}"))?;

    let first = loop {
        match rt.block_on(client.run()) {
            Ok(DhcpV4State::Done(lease)) => break *lease,
            Ok(_) => continue,
            Err(e) => bail!(
                "no DHCP lease on {} within {} s: {}; is a DHCP server on that network? \
                 (--dhcp-timeout changes the limit)",
                p.link,
                p.timeout,
                e.msg()
            ),
        }
    };
    let mut held = apply_lease(&nl, link.index, &first, None)?;
    if let Some(mut r) = report.take() {
        writeln!(r, "ok {held}")?;
    }
    if !p.renew {
        return Ok(());
    }
    if let Some(f) = &p.pid_file {
        std::fs::write(f, format!("{}\n", std::process::id())).with_context(|| format!("writing {}", f.display()))?;
    }
    let outcome = renew_until_gone(&rt, &mut client, &nl, link.index, &p, &mut held, &first);
    if let Some(f) = &p.pid_file {
        let _ = std::fs::remove_file(f);
    }
    outcome
}

/// What woke the renewing client.
enum Wake {
    Protocol(std::result::Result<DhcpV4State, mozim::DhcpError>),
    GuestGone,
    Tick,
}

/// Keeps the lease fresh until the guest's process exits or the interface
/// is gone. A lease that runs out takes its address and route with it.
fn renew_until_gone(
    rt: &tokio::runtime::Runtime,
    client: &mut DhcpV4Client,
    nl: &Netlink,
    index: u32,
    p: &Params,
    held: &mut Ipv4Net,
    first: &DhcpV4Lease,
) -> Result<()> {
    let guest_exit = {
        let _ctx = rt.enter();
        p.guest_pid.and_then(pidfd)
    };
    let mut expires = Instant::now() + Duration::from_secs(first.lease_time_sec.into());
    let mut have_address = true;
    loop {
        let wake = rt.block_on(async {
            tokio::select! {
                state = client.run() => Wake::Protocol(state),
                () = wait_readable(guest_exit.as_ref()) => Wake::GuestGone,
                () = tokio::time::sleep(Duration::from_secs(5)) => Wake::Tick,
            }
        });
        match wake {
            Wake::Protocol(Ok(DhcpV4State::Done(lease))) => {
                *held = apply_lease(nl, index, &lease, have_address.then_some(*held))?;
                have_address = true;
                expires = Instant::now() + Duration::from_secs(lease.lease_time_sec.into());
            }
            Wake::Protocol(Ok(_)) => {}
            Wake::Protocol(Err(_)) => {
                if have_address && Instant::now() >= expires {
                    let _ = nl.delete_address(index, IpNet::V4(*held));
                    have_address = false;
                }
                client.clean_up();
                std::thread::sleep(Duration::from_secs(5));
            }
            Wake::GuestGone => return Ok(()),
            Wake::Tick => {
                if nl.link(&p.link)?.is_none() {
                    return Ok(());
                }
            }
        }
    }
}

/// Address with the server's prefix, and the default route via its first
/// router. A renewed lease for the same address changes nothing.
fn apply_lease(nl: &Netlink, index: u32, lease: &DhcpV4Lease, old: Option<Ipv4Net>) -> Result<Ipv4Net> {
    let addr = Ipv4Net::new(lease.yiaddr, lease.prefix_length()).context("the server sent a bad subnet mask")?;
    if old == Some(addr) {
        return Ok(addr);
    }
    if let Some(old) = old {
        nl.delete_address(index, IpNet::V4(old)).context("removing the address of the old lease")?;
    }
    match nl.add_address(index, IpNet::V4(addr), false) {
        Err(e) if errno(&e) != Some(libc::EEXIST) => return Err(e.context(format!("adding {addr}"))),
        _ => {}
    }
    if let Some(gw) = lease.gateways.as_ref().and_then(|g| g.first()) {
        let gw: Ipv4Addr = *gw;
        nl.replace_default(index, IpAddr::V4(gw)).with_context(|| format!("setting the default route via {gw}"))?;
    }
    Ok(addr)
}

/// A descriptor that becomes readable when the process exits. Must be made
/// inside the runtime that will wait on it.
fn pidfd(pid: i32) -> Option<tokio::io::unix::AsyncFd<OwnedFd>> {
    let fd = PidFd::open(pid)?.into_fd();
    // SAFETY: the descriptor is ours alone; the OwnedFd inside the AsyncFd
    // keeps it open, unchanged, for the AsyncFd's life.
    unsafe { tokio::io::unix::AsyncFd::register(fd) }.ok()
}

async fn wait_readable(fd: Option<&tokio::io::unix::AsyncFd<OwnedFd>>) {
    match fd {
        Some(fd) => {
            let _ = fd.readable().await;
        }
        None => std::future::pending().await,
    }
}
