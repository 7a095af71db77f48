//! An OVN logical switch (`ovn:LSWITCH`): the guest gets a veth whose host
//! side joins the local integration bridge, bound to a new logical switch
//! port. One Northbound transaction makes the port (addresses, port
//! security, pipework's external_ids); one Open vSwitch transaction adds the
//! veth with `external_ids:iface-id` naming it; then pipework waits until
//! ovn-controller has installed the port's flows (`ovn-installed=true` on
//! the Interface row) before the guest's first packets. The Southbound
//! database is never written.
//!
//! Refusals, all before anything changes: no ovn-controller or integration
//! bridge here, the Northbound database unreachable, no such switch, the
//! port name taken by another attachment, an address another port of the
//! switch claims, DHCP on a switch without OVN's IPAM and DHCP options.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use macaddr::MacAddr6;

use crate::attach::kinds::device::DeleteInGuest;
use crate::attach::kinds::kind::{no_host_leftovers, Ctx, Entry, Found, Kind, Makes, Probe};
use crate::attach::kinds::ovs::{AddPort, DelPort, PortApplied, PortUp, TxChecksumOff};
use crate::attach::kinds::veth::{self, HostSide};
use crate::attach::step::{Step, Steps, Target};
use crate::guest::{GuestNames, Identity};
use crate::request::{format_mac, AddressSpec, HostIfRef};
use crate::sys::netlink::LinkKind;
use crate::sys::ovsdb::northbound::{self, Lost, Northbound, PortRow, Survey};
use crate::sys::ovsdb::vswitch::{self, PortSpec, Vswitch};
use crate::sys::ovsdb::{self, Tls, TlsFiles, OVN_NB_FLAGS};

pub const ENTRY: Entry = Entry { recognise, detach, host_leftovers: no_host_leftovers };

/// Longest port name pipework derives (OVN itself sets no limit; this keeps
/// names readable in `ovn-nbctl show`).
const PORT_NAME_MAX: usize = 64;

/// How long a Northbound request may take.
const NB_TIMEOUT: Duration = Duration::from_secs(10);

/// External-ids keys on the Interface row that mark an OVN attach.
const ID_PORT: &str = "pipework.ovn-port";
const ID_SWITCH: &str = "pipework.ovn-switch";
const ID_NB: &str = "pipework.ovn-nb";
/// The files of an `ssl:` Northbound remote, so that `--detach` and watch's
/// cleanup of a dead container reach the database the same way.
const ID_NB_KEY: &str = "pipework.ovn-nb-key";
const ID_NB_CERT: &str = "pipework.ovn-nb-cert";
const ID_NB_CA: &str = "pipework.ovn-nb-ca";

#[derive(Debug)]
struct OvnPort {
    /// The integration bridge.
    bridge: String,
    mtu: u32,
    /// br-int forwards in ovs-vswitchd (`datapath_type=netdev`).
    userspace: bool,
    host_side: HostSide,
    mac: MacAddr6,
    lsp: northbound::PortSpec,
    /// A leftover port of this name from an earlier attach of the same
    /// guest and interface, replaced in the same transaction.
    replace: Option<String>,
    nb: Rc<Northbound>,
    /// What an `ssl:` Northbound remote needs.
    tls: Option<TlsFiles>,
    timeout: Duration,
}

/// The key and certificates read and checked, before anything changes.
fn load_tls(files: Option<&TlsFiles>, remote: &str) -> Result<Option<Tls>> {
    files
        .map(|f| f.load(OVN_NB_FLAGS).map_err(|why| anyhow!("OVN's Northbound database {remote} over TLS: {why}")))
        .transpose()
}

fn recognise(p: &Probe) -> Result<Option<Box<dyn Kind>>> {
    let HostIfRef::Ovn(switch) = &p.req.host_if else { return Ok(None) };
    p.refuse_tag("an OVN logical switch")?;
    if p.req.direct_phys || p.req.ipvlan.is_some() {
        bail!(
            "--direct-phys and --ipvlan make no veth; an OVN logical switch port is a veth on the integration bridge"
        );
    }
    let guest_if = p.guest_if().to_string();

    // This host: an Open vSwitch that is an OVN chassis, its integration
    // bridge, and ovn-controller running.
    let vswitch = p.vswitch.ok_or_else(|| {
        anyhow!(vswitch::absent(p.req.ovs.db.as_deref())).context(format!(
            "ovn:{switch} needs ovn-controller and its Open vSwitch on this host, and no ovsdb-server answers \
             (packages ovn-host and openvswitch-switch; start them, or name the database with --ovs-db)"
        ))
    })?;
    vswitch.answers().map_err(|e| {
        anyhow!(e).context(format!("ovn:{switch} needs ovn-controller's Open vSwitch on this host (--ovs-db names it)"))
    })?;
    let chassis = vswitch.chassis()?;
    let Some(system_id) = chassis.system_id.clone() else {
        bail!(
            "this host is no OVN chassis: the Open_vSwitch row has no external_ids:system-id. Configure it \
             (ovs-vsctl set open . external-ids:system-id=NAME external-ids:ovn-remote=tcp:CENTRAL:6642 \
             external-ids:ovn-encap-type=geneve external-ids:ovn-encap-ip=THIS_HOST_IP) and start ovn-controller"
        );
    };
    controller_running()?;
    let bridge = chassis.bridge.clone();
    let link = p.host_nl.link(&bridge)?;
    let (true, Some(link)) = (chassis.bridge_exists, link) else {
        bail!(
            "OVN's integration bridge {bridge} is not there (no ovsdb row, or no device from ovs-vswitchd): \
             ovn-controller creates it when it starts; is it running and connected to the Southbound database? \
             (ovn-appctl -t ovn-controller connection-status)"
        );
    };
    let userspace = link.kind != Some(LinkKind::Openvswitch);
    let mtu = guest_mtu(p, &chassis, link.mtu)?;

    // The Northbound database.
    let remote = northbound::remote(p.req.ovn.nb.as_deref());
    // The CNI plugin's configuration names no files: there, as for
    // OVN_NB_DB, the environment the runtime passes on does.
    let o = &p.req.ovn;
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
    let (key, cert, ca) = (
        o.key.clone().or_else(|| env("PIPEWORK_OVN_NB_KEY")),
        o.cert.clone().or_else(|| env("PIPEWORK_OVN_NB_CERT")),
        o.ca.clone().or_else(|| env("PIPEWORK_OVN_NB_CA")),
    );
    let tls_files = northbound::tls_files(&remote, key.as_deref(), cert.as_deref(), ca.as_deref())?;
    let nb = Northbound::with_tls(&remote, NB_TIMEOUT, load_tls(tls_files.as_ref(), &remote)?);
    let nbctl = nbctl(&remote, tls_files.as_ref());
    nb.answers().map_err(|e| {
        let hint = if matches!(e, ovsdb::Error::BadRemote { .. }) {
            format!("cannot use OVN's Northbound database at {remote} (try: {nbctl} show)")
        } else {
            format!(
                "OVN's Northbound database at {remote} does not answer; name it with --ovn-nb or OVN_NB_DB \
                 (unix:PATH, tcp:IP:6641 or ssl:IP:6641), and check that it listens there ({nbctl} show)"
            )
        };
        anyhow!(e).context(hint)
    })?;
    let survey = nb.survey()?;
    if survey.switch(switch).is_none() {
        bail!(
            "OVN's Northbound database at {remote} has no logical switch {switch}: create it with \
             ovn-nbctl ls-add {switch}"
        );
    }

    // The port: its name, a leftover of ours in its way, its addresses.
    let name = match &p.req.ovn.port {
        Some(n) => n.clone(),
        None => port_name(p.guest, &guest_if),
    };
    let replace = match survey.port(&name) {
        Some(old) if leftover_of(old, &system_id, p.guest, &guest_if) => {
            eprintln!("pipework: replacing logical switch port {name}, left by an earlier attach that did not finish");
            Some(old.uuid.clone())
        }
        Some(old) => bail!(
            "logical switch port {name} already exists{} and belongs to another attachment{}: choose another \
             name with --ovn-port, or remove it with ovn-nbctl lsp-del {name}",
            if old.switch.is_empty() { String::new() } else { format!(" on {}", old.switch) },
            owner(old).map(|o| format!(" ({o})")).unwrap_or_default()
        ),
        None => None,
    };
    let mac = p.req.mac.unwrap_or_else(|| derived_mac(&system_id, &name));
    let (addresses, port_security, dhcpv4_options) = addressing(p, switch, &survey, mac)?;
    refuse_claimed(&survey, switch, &name, replace.as_deref(), mac, &p.req.address)?;

    let mut external_ids = vec![
        ("pipework.interface".to_string(), guest_if.clone()),
        ("pipework.chassis".to_string(), system_id.clone()),
        ("pipework.nspid".to_string(), p.guest.nspid.to_string()),
        ("pipework.guest".to_string(), p.guest.label.clone()),
    ];
    if let Some(c) = &p.guest.container {
        external_ids.push(("pipework.containerid".into(), c.id.clone()));
        external_ids.push(("pipework.containername".into(), c.name.clone()));
    }
    let lsp =
        northbound::PortSpec { switch: switch.clone(), name, addresses, port_security, dhcpv4_options, external_ids };
    let host_side = HostSide::check(p)?;
    Ok(Some(Box::new(OvnPort {
        bridge,
        mtu,
        userspace,
        host_side,
        mac,
        lsp,
        replace,
        nb: Rc::new(nb),
        tls: tls_files,
        timeout: p.req.ovn.timeout,
    })))
}

/// The guest's MTU when `--mtu` is not given: the integration bridge's,
/// lowered so that a full frame still fits in the tunnel over the underlay
/// (the interface holding `ovn-encap-ip`): Geneve with OVN's option takes
/// 58 bytes, VXLAN 50. On a 1500-byte underlay that is 1442; larger
/// frames would vanish without an ICMP error.
fn guest_mtu(p: &Probe, chassis: &vswitch::Chassis, bridge_mtu: u32) -> Result<u32> {
    let overhead = match chassis.encap_type.as_deref().map(|t| t.split(',').next().unwrap_or(t).trim()) {
        Some("geneve") => 58,
        Some("vxlan") => 50,
        _ => return Ok(bridge_mtu),
    };
    let Some(ip) = chassis.encap_ip.as_deref().and_then(|ip| ip.split(',').next()?.trim().parse::<IpAddr>().ok())
    else {
        return Ok(bridge_mtu);
    };
    for l in p.host_nl.links()? {
        if p.host_nl.addresses(l.index)?.iter().any(|a| a.addr() == ip) {
            return Ok(bridge_mtu.min(l.mtu.saturating_sub(overhead)));
        }
    }
    Ok(bridge_mtu)
}

/// ovn-controller's pid file (in OVN_RUNDIR, as ovn-ctl and ovn-appctl
/// find it) names a live ovn-controller.
fn controller_running() -> Result<()> {
    let rundir = std::env::var("OVN_RUNDIR").unwrap_or_else(|_| "/var/run/ovn".to_string());
    let pidfile = std::path::Path::new(&rundir).join("ovn-controller.pid");
    let alive = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
        .is_some_and(|comm| comm.trim() == "ovn-controller");
    if !alive {
        bail!(
            "no ovn-controller runs on this host ({} names no live ovn-controller): start it \
             (/usr/share/ovn/scripts/ovn-ctl start_controller), or set OVN_RUNDIR to where it keeps its pid file",
            pidfile.display()
        );
    }
    Ok(())
}

/// The container's name (else the guest as the user named it) and GUESTIF:
/// `web1-eth1`. Characters OVN's tools would need quoted become `_`.
pub fn port_name(guest: &Identity, guest_if: &str) -> String {
    let base = match &guest.container {
        Some(c) if !c.name.trim_start_matches('/').is_empty() => c.name.trim_start_matches('/').to_string(),
        Some(c) => c.id.chars().take(12).collect(),
        None => guest.label.clone(),
    };
    let clean = |s: &str| -> String {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect()
    };
    let tail = format!("-{}", clean(guest_if));
    let mut head = clean(&base);
    head.truncate(PORT_NAME_MAX.saturating_sub(tail.len()));
    head + &tail
}

/// A MAC of this chassis and port, stable across runs: locally administered,
/// unicast.
pub fn derived_mac(system_id: &str, port: &str) -> MacAddr6 {
    // FNV-1a: a stable spread, no dependency.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in system_id.bytes().chain(std::iter::once(b'/')).chain(port.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    MacAddr6::new((b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5])
}

/// Whether a port of our name is what an earlier attach of this guest and
/// interface on this chassis left.
fn leftover_of(old: &PortRow, system_id: &str, guest: &Identity, guest_if: &str) -> bool {
    let id = |k: &str| old.external_ids.get(k).map(String::as_str);
    let same_guest = match &guest.container {
        Some(c) => id("pipework.containerid") == Some(c.id.as_str()),
        None => id("pipework.nspid") == Some(guest.nspid.to_string().as_str()),
    };
    id("pipework.chassis") == Some(system_id) && id("pipework.interface") == Some(guest_if) && same_guest
}

/// Who holds a port, as its external_ids say.
fn owner(p: &PortRow) -> Option<String> {
    let id = |k: &str| p.external_ids.get(k);
    let chassis = id("pipework.chassis")?;
    let guest = id("pipework.containername").or(id("pipework.guest")).map_or("?", String::as_str);
    Some(format!("made by pipework for {} of {guest} on chassis {chassis}", id("pipework.interface")?))
}

/// `addresses`, `port_security` and `dhcpv4_options` for ADDRESS.
fn addressing(p: &Probe, switch: &str, survey: &Survey, mac: MacAddr6) -> Result<(String, String, Option<String>)> {
    let mac = format_mac(&mac);
    match &p.req.address {
        AddressSpec::Static { addrs } => {
            let ips: Vec<String> = addrs.iter().map(|a| a.addr.addr().to_string()).collect();
            let entry = format!("{mac} {}", ips.join(" "));
            Ok((entry.clone(), entry, None))
        }
        AddressSpec::Dhcp { .. } => {
            let sw = survey.switch(switch).expect("checked by the caller");
            let Some(subnet) = &sw.subnet else {
                bail!(
                    "DHCP on ovn:{switch} comes from OVN itself, which needs the switch's subnet for its IPAM: \
                     ovn-nbctl set Logical_Switch {switch} other_config:subnet=A.B.C.0/N (and a DHCP_Options row \
                     for it: ovn-nbctl dhcp-options-create A.B.C.0/N, then dhcp-options-set-options UUID \
                     server_id=GW server_mac=MAC lease_time=3600 router=GW)"
                );
            };
            let Some(options) = survey.dhcp_for(subnet) else {
                bail!(
                    "DHCP on ovn:{switch} needs a DHCP_Options row for its subnet {subnet}: ovn-nbctl \
                     dhcp-options-create {subnet}, then ovn-nbctl dhcp-options-set-options UUID server_id=GW \
                     server_mac=MAC lease_time=3600 router=GW"
                );
            };
            Ok((format!("{mac} dynamic"), mac, Some(options.to_string())))
        }
        // No address, or one from router advertisements: the MAC alone.
        AddressSpec::None { .. } | AddressSpec::Slaac => Ok((mac.clone(), mac, None)),
    }
}

/// An address (MAC or IP) another port of the switch already claims.
fn refuse_claimed(
    survey: &Survey,
    switch: &str,
    name: &str,
    replace: Option<&str>,
    mac: MacAddr6,
    address: &AddressSpec,
) -> Result<()> {
    let ips: Vec<IpAddr> = match address {
        AddressSpec::Static { addrs } => addrs.iter().map(|a| a.addr.addr()).collect(),
        _ => Vec::new(),
    };
    let mac = format_mac(&mac);
    for other in survey.ports_of(switch).filter(|o| o.name != name && Some(o.uuid.as_str()) != replace) {
        for word in other.claims() {
            let ip = northbound::claim_ip(&word);
            let clash = if ip.is_some() { ips.iter().any(|i| Some(*i) == ip) } else { word == mac };
            if clash {
                bail!(
                    "{word} is already claimed on logical switch {switch} by port {} (addresses: {}): choose \
                     another {}, or free it with ovn-nbctl lsp-del {}",
                    other.name,
                    other.addresses.join(", "),
                    if ip.is_some() { "address" } else { "MAC" },
                    other.name
                );
            }
        }
    }
    Ok(())
}

impl Kind for OvnPort {
    fn host_name(&self) -> &str {
        &self.bridge
    }

    fn makes(&self) -> Makes {
        Makes::VethOnOvsBridge
    }

    fn clears(&self, guest_if: &str) -> bool {
        self.host_side.clears.as_deref() == Some(guest_if)
    }

    fn bring_in(&self, ctx: &Ctx, steps: &mut Steps) -> String {
        self.host_side.make(ctx.guest_if, ctx.req.tuning.mtu.unwrap_or(self.mtu), Some(self.mac), steps);
        if self.userspace {
            steps.push(Box::new(TxChecksumOff { link: ctx.guest_if.to_string() }));
        }
        // The logical port first: by the time the veth is on br-int,
        // ovn-northd has most likely put it in the Southbound database.
        steps.push(Box::new(AddLogicalPort {
            nb: self.nb.clone(),
            tls: self.tls.clone(),
            spec: self.lsp.clone(),
            replace: self.replace.clone(),
        }));
        let port = self.host_side.name.clone();
        let mut ids = vec![
            ("iface-id".to_string(), self.lsp.name.clone()),
            (ID_PORT.to_string(), self.lsp.name.clone()),
            (ID_SWITCH.to_string(), self.lsp.switch.clone()),
            (ID_NB.to_string(), self.nb.spelled().to_string()),
            ("pipework.interface".to_string(), port.clone()),
            ("pipework.bridge".to_string(), self.bridge.clone()),
        ];
        if let Some(f) = &self.tls {
            for (k, path) in [(ID_NB_KEY, &f.key), (ID_NB_CERT, &f.cert), (ID_NB_CA, &f.ca)] {
                ids.push((k.to_string(), path.display().to_string()));
            }
        }
        if let Some(c) = &ctx.guest.container {
            ids.push(("pipework.containerid".into(), c.id.clone()));
            ids.push(("pipework.containername".into(), c.name.clone()));
        }
        if let Some(pid) = ctx.guest.pid {
            ids.push(("pipework.nspid".into(), pid.to_string()));
        }
        ids.extend(ctx.req.ovs.external_ids.iter().cloned());
        let spec = PortSpec {
            bridge: self.bridge.clone(),
            port: port.clone(),
            create_bridge: None,
            tag: None,
            external_ids: ids,
        };
        // Up before it joins br-int: see the OVS kind's bring_in.
        steps.push(Box::new(PortUp { link: port.clone() }));
        steps.push(Box::new(AddPort(spec)));
        // Bound before the guest's side is configured: its first packets
        // (DHCP, the gratuitous ARP, the user's first ping) pass, and an
        // attach killed while waiting leaves the guest's interface down,
        // which the next run recognises as unfinished and makes again.
        steps.push(Box::new(PortApplied { port: port.clone() }));
        steps.push(Box::new(AwaitBound { iface: port, lsp: self.lsp.name.clone(), timeout: self.timeout }));
        ctx.guest_if.to_string()
    }
}

/// The Northbound transaction: the port and its place in the switch.
#[derive(Debug)]
struct AddLogicalPort {
    nb: Rc<Northbound>,
    tls: Option<TlsFiles>,
    spec: northbound::PortSpec,
    replace: Option<String>,
}

impl Step for AddLogicalPort {
    fn command(&self, _: &GuestNames) -> String {
        let del = match &self.replace {
            Some(_) => format!("--if-exists lsp-del {} -- ", self.spec.name),
            None => String::new(),
        };
        format!("{} {del}{}", nbctl(self.nb.spelled(), self.tls.as_ref()), self.spec.nbctl())
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let (s, p) = (&self.spec.switch, &self.spec.name);
        let uuid = match self.nb.add_port(&self.spec, self.replace.as_deref()) {
            Ok(uuid) => uuid,
            Err(Ok(Lost::Switch)) => bail!("logical switch {s} was deleted meanwhile (ovn-nbctl ls-add {s})"),
            Err(Ok(Lost::Port)) => {
                bail!("logical switch port {p} was made or removed by someone else meanwhile; run the line again")
            }
            Err(Err(e)) => return Err(e.context(format!("adding logical switch port {p} to {s}"))),
        };
        let nb = self.nb.clone();
        t.on_undo(format!("ovn-nbctl lsp-del {p}"), move |_| nb.remove_port(&uuid));
        Ok(())
    }
}

/// ovn-controller has bound the port: `external_ids:ovn-installed=true`
/// on its Interface row (its flows are in).
#[derive(Debug)]
struct AwaitBound {
    iface: String,
    lsp: String,
    timeout: Duration,
}

impl Step for AwaitBound {
    fn command(&self, _: &GuestNames) -> String {
        format!(
            "# then: ovn-controller has bound {} (ovs-vsctl wait-until Interface {} external_ids:ovn-installed=true)",
            self.lsp, self.iface
        )
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let v = t.vswitch.context("Open vSwitch's database vanished")?;
        match v.await_interface_id(&self.iface, "ovn-installed", "true", self.timeout) {
            Ok(()) => Ok(()),
            Err(crate::sys::ovsdb::Error::Timeout { .. }) => bail!(
                "ovn-controller did not bind logical switch port {} within {} s (Interface {} has no \
                 external_ids:ovn-installed=true): are ovn-northd and ovn-controller running and connected? \
                 (ovn-appctl -t ovn-controller connection-status; ovn-sbctl show) A slower host needs --ovn-timeout",
                self.lsp,
                self.timeout.as_secs(),
                self.iface
            ),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("waiting for ovn-controller to bind {}", self.lsp)),
        }
    }
}

/// A veth whose host side is an OVS port an OVN attach marked: the logical
/// port goes first (if the Northbound database cannot be reached, nothing
/// is removed and the detach can be run again), then the OVS port, then
/// the pair.
fn detach(f: &Found) -> Result<Option<Steps>> {
    let Some(v) = f.vswitch else { return Ok(None) };
    let Some(peer) = veth::host_peer(f)? else { return Ok(None) };
    if veth::on_linux_bridge(&peer, f.host_nl)? {
        return Ok(None);
    }
    let ids = match v.interface_ids(&peer.name) {
        Ok(Some(ids)) => ids,
        Ok(None) => return Ok(None),
        Err(e) if crate::sys::ovsdb::find_error(&e).is_some_and(crate::sys::ovsdb::Error::is_not_running) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let Some(lsp) = ids.get(ID_PORT) else { return Ok(None) };
    let remove = DeleteInGuest { name: f.link.name.clone(), index: f.link.index, host_side: Some(peer.name.clone()) };
    let (remote, tls) = recorded_remote(&ids);
    Ok(Some(vec![
        Box::new(DelLogicalPort { name: lsp.clone(), remote, tls }),
        Box::new(DelPort { port: peer.name }),
        Box::new(remove),
    ]))
}

/// The Northbound database an attach wrote to and the files its `ssl:`
/// remote needs, as it recorded them; else OVN_NB_DB or the default.
fn recorded_remote(ids: &BTreeMap<String, String>) -> (String, Option<TlsFiles>) {
    let remote = ids.get(ID_NB).cloned().unwrap_or_else(|| northbound::remote(None));
    let tls = match (ids.get(ID_NB_KEY), ids.get(ID_NB_CERT), ids.get(ID_NB_CA)) {
        (Some(key), Some(cert), Some(ca)) => Some(TlsFiles { key: key.into(), cert: cert.into(), ca: ca.into() }),
        _ => None,
    };
    (remote, tls)
}

/// `ovn-nbctl` as it would reach this database: `--db=` and, for `ssl:`,
/// the files.
fn nbctl(remote: &str, tls: Option<&TlsFiles>) -> String {
    format!("ovn-nbctl --db={remote}{}", tls.map(TlsFiles::nbctl_args).unwrap_or_default())
}

/// A client of the Northbound database an attach recorded.
fn recorded_nb(remote: &str, tls: Option<&TlsFiles>) -> Result<Northbound> {
    Ok(Northbound::with_tls(remote, NB_TIMEOUT, load_tls(tls, remote)?))
}

/// `--detach`: the logical switch port an attach made.
#[derive(Debug)]
struct DelLogicalPort {
    name: String,
    remote: String,
    tls: Option<TlsFiles>,
}

impl Step for DelLogicalPort {
    fn command(&self, _: &GuestNames) -> String {
        format!("{} --if-exists lsp-del {}", nbctl(&self.remote, self.tls.as_ref()), self.name)
    }

    fn run(&self, _: &mut Target) -> Result<()> {
        let nb = recorded_nb(&self.remote, self.tls.as_ref())?;
        nb.del_port(&self.name)
            .map(drop)
            .with_context(|| format!("OVN's Northbound database at {} (the attach recorded it)", self.remote))
    }
}

/// A container that died (`--watch`) or a CNI attachment gone: the logical
/// switch port its OVS port was bound to, removed. Returns the port's name
/// when there was one.
pub fn forget_logical_port(vswitch: &Vswitch, ovs_port: &str) -> Result<Option<String>> {
    let Some(ids) = vswitch.interface_ids(ovs_port)? else { return Ok(None) };
    let Some(lsp) = ids.get(ID_PORT) else { return Ok(None) };
    let (remote, tls) = recorded_remote(&ids);
    recorded_nb(&remote, tls.as_ref())?
        .del_port(lsp)
        .with_context(|| format!("removing logical switch port {lsp} from OVN's Northbound database at {remote}"))?;
    Ok(Some(lsp.clone()))
}

/// Whether the guest's veth `host_side` is bound to a port of `switch` (and
/// of the name asked, when one is): the attach's line again is a no-op.
pub fn bound_as_asked(vswitch: &Vswitch, host_side: &str, switch: &str, port: Option<&str>) -> Result<Option<String>> {
    let ids = vswitch.interface_ids(host_side)?.unwrap_or_default();
    let id = |k: &str| ids.get(k).map(String::as_str);
    Ok(match (id(ID_SWITCH), id(ID_PORT)) {
        (Some(s), Some(p)) if s == switch && port.is_none_or(|want| want == p) => None,
        (Some(s), Some(p)) => Some(format!("it is bound to port {p} of OVN switch {s}")),
        _ => Some(format!("its veth is not bound to OVN switch {switch}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::kinds::kind::testing::{guest, kind_commands, request};
    use crate::guest::Container;

    fn kind(dhcp: bool) -> OvnPort {
        let mac = derived_mac("ovnH1", "web1-eth1");
        let m = format_mac(&mac);
        OvnPort {
            bridge: "br-int".into(),
            mtu: 1500,
            userspace: true,
            host_side: HostSide { name: "veth1pl4242".into(), stale: false, clears: None },
            mac,
            lsp: northbound::PortSpec {
                switch: "ls1".into(),
                name: "web1-eth1".into(),
                addresses: if dhcp { format!("{m} dynamic") } else { format!("{m} 10.50.0.11") },
                port_security: if dhcp { m.clone() } else { format!("{m} 10.50.0.11") },
                dhcpv4_options: None,
                external_ids: vec![("pipework.interface".into(), "eth1".into())],
            },
            replace: None,
            nb: Rc::new(Northbound::with_tls("tcp:172.30.0.1:6641", NB_TIMEOUT, None)),
            tls: None,
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_plan_makes_the_logical_port_then_binds_the_veth_then_waits() {
        let (c, made) = kind_commands(&kind(false), &request("10.50.0.11/24"), &guest());
        assert_eq!(made, "eth1");
        let mac = format_mac(&derived_mac("ovnH1", "web1-eth1"));
        assert_eq!(
            c[0],
            format!("ip link add veth1pl4242 mtu 1500 type veth peer name eth1 mtu 1500 address {mac} netns 4242")
        );
        assert_eq!(c[1], "sysctl -qw net/ipv6/conf/veth1pl4242/disable_ipv6=1");
        assert_eq!(c[2], "nsenter -t 4242 -n ethtool -K eth1 tx off");
        assert!(c[3].starts_with(&format!(
            "ovn-nbctl --db=tcp:172.30.0.1:6641 lsp-add ls1 web1-eth1 -- lsp-set-addresses web1-eth1 \"{mac} 10.50.0.11\""
        )), "{}", c[3]);
        assert_eq!(c[4], "ip link set veth1pl4242 up");
        assert!(c[5].starts_with("ovs-vsctl --may-exist add-port br-int veth1pl4242 -- set Interface veth1pl4242 \
                                  external-ids:iface-id=web1-eth1 external-ids:pipework.ovn-port=web1-eth1 \
                                  external-ids:pipework.ovn-switch=ls1 external-ids:pipework.ovn-nb=tcp:172.30.0.1:6641"),
            "{}", c[5]);
        assert!(c[6].starts_with("# then: ovs-vswitchd has set up port veth1pl4242"));
        assert!(c[7].contains("wait-until Interface veth1pl4242 external_ids:ovn-installed=true"), "{}", c[7]);
        assert_eq!(c.len(), 8);
    }

    #[test]
    fn derived_names_and_macs_are_stable_and_fit() {
        let mut g = guest();
        assert_eq!(port_name(&g, "eth1"), "web1-eth1");
        g.container = Some(Container { id: "c0ffee".into(), name: "/db 1".into() });
        assert_eq!(port_name(&g, "eth2"), "db_1-eth2");
        g.container = Some(Container { id: "c".repeat(64), name: "x".repeat(100) });
        assert_eq!(port_name(&g, "eth1").len(), PORT_NAME_MAX);
        let a = derived_mac("ovnH1", "web1-eth1");
        assert_eq!(a, derived_mac("ovnH1", "web1-eth1"));
        assert_ne!(a, derived_mac("ovnH2", "web1-eth1"));
        assert_eq!(a.as_bytes()[0] & 0x03, 0x02, "locally administered unicast");
    }

    fn survey_with(addresses: &str, dynamic: &str) -> Survey {
        Survey {
            switches: vec![northbound::SwitchRow {
                uuid: "s1".into(),
                name: "ls1".into(),
                ports: vec!["p1".into()],
                subnet: None,
            }],
            ports: vec![PortRow {
                uuid: "p1".into(),
                name: "lsp-g12".into(),
                addresses: vec![addresses.into()],
                dynamic_addresses: dynamic.into(),
                external_ids: BTreeMap::new(),
                switch: "ls1".into(),
            }],
            dhcp: vec![],
        }
    }

    #[test]
    fn an_address_another_port_claims_is_refused_naming_it() {
        let mac: MacAddr6 = "0a:00:00:00:00:01".parse().unwrap();
        let s = survey_with("02:00:00:00:00:12 10.50.0.12", "");
        let addr = |a| AddressSpec::parse(a, None).unwrap();
        let e = refuse_claimed(&s, "ls1", "web1-eth1", None, mac, &addr("10.50.0.12/24")).unwrap_err();
        assert!(e.to_string().contains("10.50.0.12 is already claimed on logical switch ls1 by port lsp-g12"), "{e}");
        assert!(e.to_string().contains("ovn-nbctl lsp-del lsp-g12"), "{e}");
        refuse_claimed(&s, "ls1", "web1-eth1", None, mac, &addr("10.50.0.13/24")).unwrap();
        // The leftover being replaced claims nothing.
        refuse_claimed(&s, "ls1", "web1-eth1", Some("p1"), mac, &addr("10.50.0.12/24")).unwrap();
        let taken: MacAddr6 = "02:00:00:00:00:12".parse().unwrap();
        assert!(refuse_claimed(&s, "ls1", "web1-eth1", None, taken, &addr("10.50.0.13/24")).is_err());
        let s = survey_with("0a:00:00:00:00:09 dynamic", "0a:00:00:00:00:09 10.50.0.2");
        assert!(refuse_claimed(&s, "ls1", "web1-eth1", None, mac, &addr("10.50.0.2/24")).is_err());
    }
}
