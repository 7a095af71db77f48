//! pipework as a CNI plugin: when `CNI_COMMAND` is set, the same binary
//! speaks the Container Network Interface specification (0.3.0 to 1.1.0)
//! to a runtime (Podman, containerd, CRI-O, Multus) instead of reading a
//! command line. The network configuration's fields are the command line's
//! words (`hostif`, `address`, `mac`, `vlan`, `mtu`), so an attach goes
//! through the same pipeline, with the same undo, as `pipework HOSTIF …`.
//!
//! ADD attaches and prints the result; DEL detaches and is idempotent (the
//! namespace may be gone); CHECK compares the kernel with the prevResult;
//! STATUS says whether an ADD could work; GC removes the OVS ports of
//! attachments the runtime no longer knows. Addresses come from `address`
//! or from the IPAM plugin `ipam` names, which we run as the spec says.

pub(crate) mod config;
mod ipam;
mod result;

use std::io::{Read, Write};
use std::net::IpAddr;
use std::process::ExitCode;

use serde_json::{json, Value};

use crate::attach::check::{self, State};
use crate::attach::kinds;
use crate::commands::{attach, detach};
use crate::guest::{self, Guest};
use crate::request::{AddressSpec, Addressed, GuestRef, HostIfRef};
use crate::sys::netlink::{self, LinkKind, Netlink};
use crate::sys::ovsdb;
use crate::sys::ovsdb::vswitch::{self, Vswitch};
use crate::sys::signals;
use config::{code, Addresses, CniError, Command, Env, NetConf, Result};
use result::{Interface, Made};

/// Is this process a CNI plugin call?
pub fn invoked() -> bool {
    std::env::var_os("CNI_COMMAND").is_some()
}

/// Runs the command `CNI_COMMAND` names: its result (if any) on stdout, or
/// an error object there and exit status 1.
pub fn main() -> ExitCode {
    let mut stdin = Vec::new();
    let read = std::io::stdin().read_to_end(&mut stdin).map_err(|e| {
        CniError::new(code::IO_FAILURE, "cannot read the network configuration on stdin").with_details(e.to_string())
    });
    let version = config::version_of(&stdin)
        .filter(|v| config::VERSIONS.contains(&v.as_str()))
        .unwrap_or_else(|| config::NEWEST.to_string());
    let outcome = read.and_then(|_| Env::read(|k| std::env::var(k).ok())).and_then(|env| run(&env, &stdin));
    let mut out = std::io::stdout().lock();
    match outcome {
        Ok(answer) => {
            if let Some(v) = answer {
                let _ = writeln!(out, "{v:#}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pipework: {e}");
            let mut obj = json!({"cniVersion": version, "code": e.code, "msg": e.msg});
            if !e.details.is_empty() {
                obj["details"] = json!(e.details);
            }
            let _ = writeln!(out, "{obj:#}");
            ExitCode::from(1)
        }
    }
}

fn run(env: &Env, stdin: &[u8]) -> Result<Option<Value>> {
    if env.command == Command::Version {
        // Any document, or none, may come with VERSION; we answer for all.
        let asked = config::version_of(stdin).unwrap_or_else(|| config::NEWEST.to_string());
        return Ok(Some(json!({"cniVersion": asked, "supportedVersions": config::VERSIONS})));
    }
    let conf = NetConf::parse(stdin, env.command)?;
    let needs = |min: (u32, u32, u32), since: &str| {
        if config::version_tuple(&conf.version) < min {
            Err(CniError::new(
                code::INCOMPATIBLE_VERSION,
                format!(
                    "{} is defined from CNI {since}; the configuration says {}",
                    env.command.as_str(),
                    conf.version
                ),
            ))
        } else {
            Ok(())
        }
    };
    match env.command {
        Command::Version => unreachable!("answered above"),
        Command::Add => add(env, &conf, stdin).map(Some),
        Command::Del => del(env, &conf, stdin).map(|()| None),
        Command::Check => {
            needs((0, 4, 0), "0.4.0")?;
            check(env, &conf, stdin).map(|()| None)
        }
        Command::Status => {
            needs((1, 1, 0), "1.1.0")?;
            status(&conf, env, stdin).map(|()| None)
        }
        Command::Gc => {
            needs((1, 1, 0), "1.1.0")?;
            gc(&conf, env, stdin).map(|()| None)
        }
    }
}

/// An error of the pipeline below, with the spec's code when one fits:
/// "try again later" for what passes (a busy device, ovsdb not answering),
/// ours otherwise.
fn failed(e: anyhow::Error, what: &str) -> CniError {
    let text = format!("{e:#}");
    let transient = matches!(netlink::errno(&e), Some(libc::EAGAIN | libc::EBUSY))
        || ovsdb::find_error(&e).is_some_and(ovsdb::Error::is_transient);
    let code = if transient { code::TRY_AGAIN_LATER } else { code::ATTACH_FAILED };
    let top = e.to_string();
    let mut err = CniError::new(code, format!("{what}: {top}"));
    if text != top {
        err = err.with_details(text);
    }
    err
}

/// The namespace CNI_NETNS names, opened, known as its container: the
/// name is what messages say and what a DHCP client sends as hostname (the
/// namespace's path would be neither).
fn open_guest(env: &Env, conf: &NetConf) -> Result<Guest> {
    let path = env.netns.clone().ok_or_else(|| CniError::new(code::INVALID_ENVIRONMENT, "CNI_NETNS is empty"))?;
    if !path.exists() {
        return Err(CniError::new(
            code::UNKNOWN_CONTAINER,
            format!("CNI_NETNS={}: no such network namespace (has the container gone?)", path.display()),
        ));
    }
    let mut guest = guest::resolve(&GuestRef::NetnsPath(path.clone())).map_err(|e| {
        CniError::new(code::INVALID_ENVIRONMENT, format!("CNI_NETNS={}", path.display())).with_details(format!("{e:#}"))
    })?;
    guest.identity.label = conf.label(env);
    guest.identity.container = Some(conf.container(env));
    Ok(guest)
}

/// Open vSwitch's database as the configuration names it (`ovsDb`), else the one
/// PIPEWORK_OVS_DB names, else its default. The configuration is what
/// counts: a runtime may run DEL from another process than ADD's (Podman's
/// `container cleanup`), with another environment.
fn vswitch(conf: &NetConf) -> Option<Vswitch> {
    let env = env_ovs_db();
    Vswitch::find(conf.ovs_db.as_deref().or(env.as_deref()))
}

fn env_ovs_db() -> Option<String> {
    std::env::var("PIPEWORK_OVS_DB").ok()
}

fn connect(guest: &Guest) -> Result<(Netlink, Netlink)> {
    let host_nl = Netlink::connect().map_err(|e| failed(e, "opening netlink"))?;
    let guest_nl = host_nl.open_in(&guest.netns).map_err(|e| failed(e, "opening netlink inside the namespace"))?;
    Ok((host_nl, guest_nl))
}

fn add(env: &Env, conf: &NetConf, stdin: &[u8]) -> Result<Value> {
    signals::defer_interruptions().map_err(|e| failed(e, "preparing"))?;
    let guest = open_guest(env, conf)?;
    let from_ipam = match &conf.ipam {
        Some(plugin) => ipam::delegate(plugin, Command::Add, env, stdin)?,
        None => None,
    };
    let outcome = (|| {
        let addresses = from_ipam.as_ref().map(|r| Addresses::from_result(r, None)).transpose()?;
        let req = conf.attach(env, addresses.as_ref())?;
        let (host_nl, guest_nl) = connect(&guest)?;
        let vswitch = vswitch(conf);
        attach::onto(&req, &guest, &host_nl, &guest_nl, vswitch.as_ref(), false)
            .map_err(|e| failed(e, &format!("attaching {} to {}", env.ifname, conf.hostif)))?;
        let told = made(env, conf, &req.host_if, &host_nl, &guest_nl, addresses.as_ref(), from_ipam.as_ref());
        told.inspect_err(|_| {
            // Attached, but the result cannot be told: take it back, so the
            // runtime's failed ADD leaves nothing.
            if let Ok(steps) = detach::steps(&guest, &env.ifname, &host_nl, &guest_nl, vswitch.as_ref()) {
                let _ = detach::run_steps(&steps, &guest, &host_nl, &guest_nl, vswitch.as_ref());
            }
        })
    })();
    match outcome {
        Ok(made) => Ok(result::build(conf.prev_result.as_ref(), &made, &conf.version)),
        Err(e) => {
            if let Some(plugin) = &conf.ipam {
                if let Err(release) = ipam::delegate(plugin, Command::Del, env, stdin) {
                    eprintln!("pipework: releasing the addresses after a failed ADD: {release}");
                }
            }
            Err(e)
        }
    }
}

/// What the ADD made, read back from the kernel: the interfaces, the
/// addresses (as IPAM gave them, or as the interface has them: static or
/// from DHCP) and the routes.
fn made(
    env: &Env,
    conf: &NetConf,
    host_if: &HostIfRef,
    host_nl: &Netlink,
    guest_nl: &Netlink,
    from_ipam: Option<&Addresses>,
    ipam_result: Option<&Value>,
) -> Result<Made> {
    let read = |e: anyhow::Error| failed(e, "reading back the interface");
    let link = guest_nl
        .link(&env.ifname)
        .map_err(read)?
        .ok_or_else(|| CniError::new(code::ATTACH_FAILED, format!("{} vanished right after the attach", env.ifname)))?;
    let mac = |l: &netlink::Link| l.ethernet_mac().map(|m| crate::request::format_mac(&m.into()));
    let mut interfaces = Vec::new();
    if link.kind == Some(LinkKind::Veth) {
        if let Some(hostif) = kinds::host_if(host_if, host_nl).map_err(read)? {
            interfaces.push(Interface { name: hostif.name.clone(), mac: mac(&hostif), mtu: None, sandbox: None });
        }
        if let Some(peer) = link.parent.map(|i| host_nl.link_by_index(i)).transpose().map_err(read)?.flatten() {
            interfaces.push(Interface { name: peer.name.clone(), mac: mac(&peer), mtu: None, sandbox: None });
        }
    }
    interfaces.push(Interface {
        name: link.name.clone(),
        mac: mac(&link),
        mtu: Some(link.mtu),
        sandbox: env.netns.as_ref().map(|p| p.display().to_string()),
    });
    let (ips, routes) = match from_ipam {
        Some(a) => {
            let routes = ipam_result.and_then(|r| r.get("routes")).and_then(Value::as_array).cloned();
            (a.ips.clone(), routes.unwrap_or_default())
        }
        None => {
            let mut ips = Vec::new();
            let mut routes = Vec::new();
            let addrs = guest_nl.assigned_addresses(link.index).map_err(read)?;
            // A family without an address has no gateway worth a route dump.
            for v6 in [false, true].into_iter().filter(|v6| addrs.iter().any(|a| a.addr().is_ipv6() == *v6)) {
                let gw = guest_nl.default_gateway(link.index, v6).map_err(read)?;
                ips.extend(addrs.iter().filter(|a| a.addr().is_ipv6() == v6).map(|a| (*a, gw)));
                if let Some(gw) = gw {
                    routes.push(json!({"dst": if v6 { "::/0" } else { "0.0.0.0/0" }, "gw": gw.to_string()}));
                }
            }
            (ips, routes)
        }
    };
    let dns = ipam_result
        .and_then(|r| r.get("dns"))
        .filter(|d| d.as_object().is_some_and(|o| !o.is_empty()))
        .or_else(|| conf.raw.get("dns"))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(Made { interfaces, ips, routes, dns })
}

fn del(env: &Env, conf: &NetConf, stdin: &[u8]) -> Result<()> {
    signals::defer_interruptions().map_err(|e| failed(e, "preparing"))?;
    let vswitch = vswitch(conf);
    // The namespace may be gone already (the spec allows it; the runtime
    // then says nothing of it, or names a path that no longer exists).
    if let Some(guest) = env.netns.as_ref().filter(|p| p.exists()).and_then(|_| open_guest(env, conf).ok()) {
        let (host_nl, guest_nl) = connect(&guest)?;
        let what = format!("removing {} from {}", env.ifname, guest.label());
        let steps =
            detach::steps(&guest, &env.ifname, &host_nl, &guest_nl, vswitch.as_ref()).map_err(|e| failed(e, &what))?;
        detach::run_steps(&steps, &guest, &host_nl, &guest_nl, vswitch.as_ref()).map_err(|e| failed(e, &what))?;
    }
    // The OVS port of an attachment whose namespace went first: its device
    // went with the namespace, its row stays until removed.
    remove_ports(conf, vswitch.as_ref(), |id, ifname| id == env.container_id && ifname == env.ifname)?;
    if let Some(plugin) = &conf.ipam {
        ipam::delegate(plugin, Command::Del, env, stdin)?;
    }
    Ok(())
}

/// Removes the OVS ports this network's attachments made that `stale`
/// picks by (container ID, interface). Without Open vSwitch there are none.
fn remove_ports(conf: &NetConf, vswitch: Option<&Vswitch>, stale: impl Fn(&str, &str) -> bool) -> Result<()> {
    let Some(vswitch) = vswitch else { return Ok(()) };
    let ports = match vswitch.marked_ports() {
        Ok(p) => p,
        // No ovsdb to ask: unless HOSTIF is an OVS bridge, nothing of ours
        // can be there.
        Err(e) if !conf.hostif.starts_with("ovs") => {
            // No Open vSwitch running: nothing to say.
            if !ovsdb::find_error(&e).is_some_and(ovsdb::Error::is_not_running) {
                eprintln!("pipework: not looking for Open vSwitch ports: {e:#}");
            }
            return Ok(());
        }
        Err(e) => return Err(failed(e, "listing Open vSwitch ports")),
    };
    let host_nl = Netlink::connect().map_err(|e| failed(e, "opening netlink"))?;
    for (port, ids) in ports {
        let of = |k: &str| ids.get(k).map(String::as_str).unwrap_or("");
        // Ports of the command line, or of another network, are not ours to judge.
        if conf.name.is_empty()
            || of("pipework.cni.network") != conf.name
            || !stale(of("pipework.containerid"), of("pipework.cni.ifname"))
        {
            continue;
        }
        if let Some(link) = host_nl.link(&port).map_err(|e| failed(e, "looking up a port"))? {
            host_nl.delete(link.index).map_err(|e| failed(e, &format!("deleting {port}")))?;
        }
        kinds::forget_logical_port(vswitch, &port)
            .map_err(|e| failed(e, &format!("removing the OVN logical switch port of {port}")))?;
        vswitch.del_port_anywhere(&port).map_err(|e| failed(e, &format!("removing OVS port {port}")))?;
    }
    Ok(())
}

fn check(env: &Env, conf: &NetConf, stdin: &[u8]) -> Result<()> {
    let prev = conf.prev_result.as_ref().ok_or_else(|| {
        CniError::new(code::INVALID_CONFIG, "CHECK needs the prevResult of the ADD; the runtime sent none")
    })?;
    let guest = open_guest(env, conf)?;
    let (host_nl, guest_nl) = connect(&guest)?;
    let differs =
        |why: String| CniError::new(code::CHECK_FAILED, format!("{} in {}: {why}", env.ifname, guest.label()));
    let (index, mac) = result::guest_interface(prev, &env.ifname)
        .ok_or_else(|| differs("the prevResult lists no such interface in a sandbox".into()))?;
    let addrs = Addresses::from_result(prev, Some(index))?;
    let mut req = conf.attach(env, None)?;
    if conf.address.as_deref().is_none_or(|a| !matches!(AddressSpec::parse(a, None), Ok(AddressSpec::Static { .. }))) {
        // DHCP, IPAM, or none: the addresses to expect are the result's.
        let addrs: Vec<Addressed> = addrs.ips.iter().map(|(a, _)| Addressed { addr: *a, gateway: None }).collect();
        req.address =
            if addrs.is_empty() { AddressSpec::None { gateway: None } } else { AddressSpec::Static { addrs } };
    }
    if let Some(m) = mac {
        req.mac = Some(crate::request::parse_mac(&m).map_err(|e| differs(format!("prevResult mac: {e:#}")))?);
    }
    let vswitch = vswitch(conf);
    let (state, _) =
        check::check(&req, &host_nl, &guest_nl, &guest.netns, vswitch.as_ref()).map_err(|e| failed(e, "checking"))?;
    match state {
        State::AsAsked => {}
        State::Absent => return Err(differs("no such interface".into())),
        State::Differs(why) => return Err(differs(why)),
    }
    let link = guest_nl.link(&env.ifname).map_err(|e| failed(e, "checking"))?.ok_or_else(|| differs("gone".into()))?;
    for v6 in [false, true] {
        let want: Option<IpAddr> =
            addrs.routes.iter().find(|r| r.dest.prefix_len() == 0 && r.dest.addr().is_ipv6() == v6).and_then(|r| r.via);
        if let Some(gw) = want {
            let have = guest_nl.default_gateway(link.index, v6).map_err(|e| failed(e, "checking"))?;
            if have != Some(gw) {
                return Err(differs(format!("its default route is not via {gw}")));
            }
        }
    }
    if let Some(plugin) = &conf.ipam {
        ipam::delegate(plugin, Command::Check, env, stdin)?;
    }
    Ok(())
}

/// Ready when HOSTIF is there, or is a bridge an ADD would create (and, for
/// an OVS bridge, ovsdb answers); then the IPAM plugin is asked too.
fn status(conf: &NetConf, env: &Env, stdin: &[u8]) -> Result<()> {
    let unavailable = |why: String| CniError::new(code::NOT_AVAILABLE, why);
    let host_if = HostIfRef::parse(&conf.hostif).map_err(|e| unavailable(format!("{e:#}")))?;
    let host_nl = Netlink::connect().map_err(|e| failed(e, "opening netlink"))?;
    let found = kinds::host_if(&host_if, &host_nl).map_err(|e| failed(e, "looking up hostif"))?;
    let ovs_named = conf.hostif.starts_with("ovs");
    match (&found, &host_if) {
        (Some(_), _) => {}
        (None, HostIfRef::Name(n)) if ovs_named || n.as_str().starts_with("br") => {}
        (None, HostIfRef::Ovn(_)) => {}
        (None, _) => {
            return Err(unavailable(format!(
                "hostif {} does not exist, and is not a bridge name (br…, ovs…) an ADD would create",
                conf.hostif
            )))
        }
    }
    let is_ovs = ovs_named || vswitch(conf).is_some_and(|v| v.bridge_exists(&conf.hostif));
    if is_ovs && found.as_ref().is_none_or(|l| l.kind != Some(LinkKind::Bridge)) {
        let db = conf.ovs_db.clone().or_else(env_ovs_db);
        let answers = vswitch(conf).map_or_else(|| Err(vswitch::absent(db.as_deref())), |v| v.answers());
        answers.map_err(|e| unavailable(format!("hostif {} is an OVS bridge, and {e}", conf.hostif)))?;
    }
    if let Some(plugin) = &conf.ipam {
        ipam::delegate(plugin, Command::Status, env, stdin)?;
    }
    Ok(())
}

/// Removes the OVS ports of this network whose attachment is not among the
/// valid ones (a Linux bridge's veth went with its namespace; an OVS row
/// stays), then lets the IPAM plugin collect its own.
fn gc(conf: &NetConf, env: &Env, stdin: &[u8]) -> Result<()> {
    signals::defer_interruptions().map_err(|e| failed(e, "preparing"))?;
    let valid = &conf.valid_attachments;
    remove_ports(conf, vswitch(conf).as_ref(), |id, ifname| !valid.contains(&(id.to_string(), ifname.to_string())))?;
    if let Some(plugin) = &conf.ipam {
        ipam::delegate(plugin, Command::Gc, env, stdin)?;
    }
    Ok(())
}
