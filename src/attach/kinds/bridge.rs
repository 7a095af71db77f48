//! A Linux bridge: HOSTIF is one, or a missing `br*` name is made into one.
//! The guest gets a veth pair whose host side joins the bridge.

use anyhow::{anyhow, bail, Context, Result};
use md5::{Digest, Md5};

use crate::attach::kinds::device::{DeleteInGuest, HostUp};
use crate::attach::kinds::kind::{Ctx, Entry, Found, Kind, Makes, Probe};
use crate::attach::kinds::veth::{self, HostSide};
use crate::attach::step::{Step, Steps, Target};
use crate::guest::{GuestNames, Identity};
use crate::sys::netfilter;
use crate::sys::netlink::{errno, LinkKind, Netlink};

pub const ENTRY: Entry = Entry { recognise, detach, host_leftovers };

/// MTU of a freshly created Linux bridge with no ports.
const NEW_BRIDGE_MTU: u32 = 1500;

#[derive(Debug)]
struct LinuxBridge {
    name: String,
    /// None: the bridge is to be created.
    index: Option<u32>,
    up: bool,
    mtu: u32,
    host_side: HostSide,
    /// `@VLAN`: the port becomes an access port of that VLAN.
    vlan: Option<AccessVlan>,
}

/// What `@VLAN` asks of a Linux bridge: the port is a member of VLAN `vid`
/// alone, untagged, the way a switch's access port is.
#[derive(Debug, Clone, Copy)]
struct AccessVlan {
    vid: u16,
    /// The VLAN every new port joins untagged (the bridge's
    /// `default_pvid`, 1 unless changed; 0: none), which the port leaves.
    default_pvid: u16,
    /// The bridge filters no VLANs yet, and `--vlan-filtering` asks this
    /// run to turn that on.
    enable_filtering: bool,
}

fn recognise(p: &Probe) -> Result<Option<Box<dyn Kind>>> {
    let (index, up, mtu) = match &p.link {
        Some(l) if l.kind == Some(LinkKind::Bridge) => (Some(l.index), l.up, l.mtu),
        None if p.name.starts_with("br") => (None, false, NEW_BRIDGE_MTU),
        _ => return Ok(None),
    };
    let vlan = access_vlan(p)?;
    let host_side = HostSide::check(p)?;
    Ok(Some(Box::new(LinuxBridge { name: p.name.clone(), index, up, mtu, host_side, vlan })))
}

/// `@VLAN` on a Linux bridge: a bridge pipework creates filters VLANs from
/// its birth; an existing one must filter already, or `--vlan-filtering`
/// turns that on (its other ports stay untagged members of its default
/// VLAN, so nothing of theirs changes).
fn access_vlan(p: &Probe) -> Result<Option<AccessVlan>> {
    let name = &p.name;
    let Some(tag) = &p.req.tag else {
        if p.req.tuning.vlan_filtering {
            bail!("--vlan-filtering turns on VLAN filtering for @VLAN on a Linux bridge; give @VLAN, or drop it");
        }
        return Ok(None);
    };
    let vid = tag.vlan_id()?;
    let (enable_filtering, default_pvid) = match p.link.as_ref().map(|l| l.vlan_filtering) {
        // Created below, with filtering on and the kernel's default PVID.
        None => (false, 1),
        Some(None) => bail!(
            "@{vid} on Linux bridge {name} needs VLAN filtering, which this kernel's bridges lack \
             (CONFIG_BRIDGE_VLAN_FILTERING); use an Open vSwitch bridge, or a macvlan on a NIC's VLAN \
             (pipework NIC GUEST ADDRESS @{vid})"
        ),
        Some(Some((true, pvid))) => (false, pvid),
        Some(Some((false, pvid))) if p.req.tuning.vlan_filtering => (true, pvid),
        Some(Some((false, _))) => bail!(
            "Linux bridge {name} does not filter VLANs, so @{vid} cannot make its port an access port; turn \
             filtering on (its other ports stay untagged members of VLAN 1): ip link set {name} type bridge \
             vlan_filtering 1, or add --vlan-filtering and pipework does it"
        ),
    };
    Ok(Some(AccessVlan { vid, default_pvid, enable_filtering }))
}

impl Kind for LinuxBridge {
    fn host_name(&self) -> &str {
        &self.name
    }

    fn makes(&self) -> Makes {
        Makes::VethOnLinuxBridge
    }

    fn clears(&self, guest_if: &str) -> bool {
        self.host_side.clears.as_deref() == Some(guest_if)
    }

    fn bring_in(&self, ctx: &Ctx, steps: &mut Steps) -> String {
        match self.index {
            None => {
                let mark = made_for(ctx.guest, ctx.guest_if);
                let vlan_filtering = self.vlan.is_some();
                steps.push(Box::new(CreateBridge { name: self.name.clone(), mark, vlan_filtering }));
            }
            Some(index) if self.vlan.is_some_and(|v| v.enable_filtering) => {
                steps.push(Box::new(EnableVlanFiltering { bridge: self.name.clone(), index }));
            }
            Some(_) => {}
        }
        self.host_side.make(ctx.guest_if, ctx.req.tuning.mtu.unwrap_or(self.mtu), ctx.req.mac, steps);
        steps.push(Box::new(Enslave {
            link: self.host_side.name.clone(),
            bridge: self.name.clone(),
            index: self.index,
        }));
        if let Some(v) = self.vlan {
            steps.push(Box::new(AccessPort { link: self.host_side.name.clone(), vlan: v }));
        }
        let t = &ctx.req.tuning;
        if t.hairpin || t.isolated {
            let link = self.host_side.name.clone();
            steps.push(Box::new(PortFlags { link, hairpin: t.hairpin, isolated: t.isolated }));
        }
        ctx.guest_if.to_string()
    }

    /// The host side comes up once the guest side is configured: until then
    /// it is down, which is how a rerun tells an attach killed half-way
    /// (its leftover is deleted and made again) from one that finished.
    /// Last: whether the host's netfilter will drop what the bridge forwards.
    fn finish(&self, _: &Ctx, steps: &mut Steps) {
        steps.push(Box::new(HostUp { link: self.host_side.name.clone() }));
        steps.push(Box::new(CheckBridgeFilter { bridge: self.name.clone() }));
    }

    /// A bridge that is down never makes its ports forward: no use waiting
    /// for that.
    fn bridge_port(&self, _: &Ctx) -> Option<String> {
        (self.up || self.index.is_none()).then(|| self.host_side.name.clone())
    }
}

/// The alias of a bridge an attach creates: which guest and interface it
/// was made for, so that `--detach` of those can remove it once nothing
/// uses it (also when an attach was killed before anything joined it).
fn made_for(guest: &Identity, guest_if: &str) -> String {
    format!("pipework: made for {guest_if} of {}", guest.nspid)
}

/// The name a new bridge has for the moment between its creation and its
/// mark: the kernel takes no alias with a new link, so the bridge is made
/// under a name of ours, then renamed, marked and set up in one request.
/// A run killed in between leaves a bridge `--detach` can still tell is ours.
fn unmarked_name(mark: &str) -> String {
    let digest = Md5::digest(mark.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("pwb{hex}")
}

/// `ip link add BR type bridge; ip link set BR up`, with the mark saying for
/// what (an attach, a tunnel line). Undo removes it unless someone else's
/// port joined it meanwhile.
#[derive(Debug)]
pub struct CreateBridge {
    name: String,
    mark: String,
    /// Born filtering VLANs (`@VLAN` on a new bridge).
    vlan_filtering: bool,
}

impl CreateBridge {
    pub fn new(name: &str, mark: String) -> CreateBridge {
        CreateBridge { name: name.to_string(), mark, vlan_filtering: false }
    }
}

impl Step for CreateBridge {
    fn command(&self, _: &GuestNames) -> String {
        let filtering = if self.vlan_filtering { " vlan_filtering 1" } else { "" };
        format!("ip link add {0} type bridge{filtering} && ip link set {0} up alias '{1}'", self.name, self.mark)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let (name, mark) = (&self.name, &self.mark);
        let temp = unmarked_name(mark);
        // What a run killed at this very step left.
        if let Some(l) = t.host_nl.link(&temp)?.filter(|l| l.kind == Some(LinkKind::Bridge)) {
            t.host_nl.delete(l.index).with_context(|| format!("deleting {temp}, left by a killed attach"))?;
        }
        let no_filtering = || {
            anyhow!(
                "@VLAN on Linux bridge {name} needs VLAN filtering, which this kernel's bridges lack \
                 (CONFIG_BRIDGE_VLAN_FILTERING); use an Open vSwitch bridge, or a macvlan on a NIC's VLAN"
            )
        };
        match t.host_nl.add_bridge(&temp, self.vlan_filtering) {
            Err(e) if self.vlan_filtering && errno(&e) == Some(libc::EOPNOTSUPP) => return Err(no_filtering()),
            r => r.with_context(|| format!("creating bridge {name}"))?,
        }
        let i = t.host_index(&temp)?;
        if self.vlan_filtering {
            // Some kernels without bridge VLAN filtering refuse the
            // attribute, others ignore it: only reading it back tells.
            let filters = t.host_nl.link_by_index(i)?.and_then(|l| l.vlan_filtering).is_some_and(|(on, _)| on);
            if !filters {
                let _ = t.host_nl.delete(i);
                return Err(no_filtering());
            }
        }
        match t.host_nl.name_mark_and_up(i, name, mark) {
            Ok(()) => {
                t.renamed_in_host(&temp, name, i);
                t.on_undo(format!("delete the bridge {name} this run created"), move |t| {
                    if t.host_nl.ports_of(i)?.is_empty() {
                        t.host_nl.delete(i)?;
                    }
                    Ok(())
                });
            }
            // Another run created it between our look and now: use theirs.
            Err(e) if errno(&e) == Some(libc::EEXIST) => {
                t.host_nl.delete(i).with_context(|| format!("deleting our spare bridge {temp}"))?;
                let l = t.host_nl.link(name)?.context("bridge vanished right after it was created")?;
                if l.kind != Some(LinkKind::Bridge) {
                    return Err(anyhow!("{name} appeared meanwhile, and it is not a bridge"));
                }
                if !l.up {
                    t.host_nl.set_up(l.index, true)?;
                }
            }
            Err(e) => {
                let _ = t.host_nl.delete(i);
                return Err(e.context(format!("creating bridge {name}")));
            }
        }
        Ok(())
    }
}

/// `ip link set BR type bridge vlan_filtering 1`, asked by
/// `--vlan-filtering`; undone by turning it off again.
#[derive(Debug)]
struct EnableVlanFiltering {
    bridge: String,
    index: u32,
}

impl Step for EnableVlanFiltering {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link set {} type bridge vlan_filtering 1", self.bridge)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let (bridge, i) = (self.bridge.clone(), self.index);
        t.host_nl.set_vlan_filtering(i, true).with_context(|| format!("turning on VLAN filtering on {bridge}"))?;
        eprintln!(
            "pipework: turned on VLAN filtering on bridge {bridge} (--vlan-filtering); its other ports stay in VLAN 1"
        );
        t.on_undo(format!("ip link set {bridge} type bridge vlan_filtering 0"), move |t| {
            t.host_nl.set_vlan_filtering(i, false)
        });
        Ok(())
    }
}

/// `bridge vlan add dev PORT vid VID pvid untagged && bridge vlan del dev
/// PORT vid DEFAULT`: the port carries VLAN VID alone, untagged, as a
/// switch's access port does. Its VLANs go with it when the veth goes.
#[derive(Debug)]
struct AccessPort {
    link: String,
    vlan: AccessVlan,
}

impl Step for AccessPort {
    fn command(&self, _: &GuestNames) -> String {
        let (link, v) = (&self.link, &self.vlan);
        let add = format!("bridge vlan add dev {link} vid {} pvid untagged", v.vid);
        if v.default_pvid == 0 || v.default_pvid == v.vid {
            add
        } else {
            format!("{add} && bridge vlan del dev {link} vid {}", v.default_pvid)
        }
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let (link, v) = (&self.link, &self.vlan);
        let i = t.host_index(link)?;
        let context = || format!("making {link} an access port of VLAN {}", v.vid);
        t.host_nl.bridge_vlan_add(i, v.vid, true).with_context(context)?;
        if v.default_pvid != 0 && v.default_pvid != v.vid {
            t.host_nl.bridge_vlan_del(i, v.default_pvid).with_context(context)?;
        }
        Ok(())
    }
}

/// "Attached, but nothing pings" (reference #211, #98, #220): bridged
/// traffic handed to iptables whose FORWARD policy drops it. Said on stderr
/// with the fix; no rule is changed by us, and the attach stands.
#[derive(Debug)]
struct CheckBridgeFilter {
    bridge: String,
}

impl Step for CheckBridgeFilter {
    fn command(&self, _: &GuestNames) -> String {
        "# then: warn if net.bridge.bridge-nf-call-iptables=1 and the iptables FORWARD policy is DROP".to_string()
    }

    fn run(&self, _: &mut Target) -> Result<()> {
        for (family, sysctl, program) in netfilter::bridged_traffic_dropped() {
            eprintln!(
                "pipework: warning: {family} traffic that {br} forwards goes through {program} \
                 (net.bridge.{sysctl}=1), and its FORWARD policy is DROP: guests on {br} will not reach each other. \
                 Fix: {program} -I FORWARD -m physdev --physdev-is-bridged -j ACCEPT (or sysctl -w net.bridge.{sysctl}=0)",
                br = self.bridge
            );
        }
        Ok(())
    }
}

/// `ip link set LINK type bridge_slave hairpin on isolated on`.
#[derive(Debug)]
struct PortFlags {
    link: String,
    hairpin: bool,
    isolated: bool,
}

impl Step for PortFlags {
    fn command(&self, _: &GuestNames) -> String {
        let on = |b: bool| if b { "on" } else { "off" };
        format!(
            "ip link set {} type bridge_slave hairpin {} isolated {}",
            self.link,
            on(self.hairpin),
            on(self.isolated)
        )
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.host_index(&self.link)?;
        t.host_nl
            .set_bridge_port(i, self.hairpin, self.isolated)
            .with_context(|| format!("setting the bridge port flags of {}", self.link))
    }
}

/// `ip link set LINK master BR up`: the host side joins the bridge.
#[derive(Debug)]
struct Enslave {
    link: String,
    bridge: String,
    /// The bridge's index when it existed before this run.
    index: Option<u32>,
}

impl Step for Enslave {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link set {} master {}", self.link, self.bridge)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        if let Some(i) = self.index {
            t.know_host_index(&self.bridge, i);
        }
        let l = t.host_index(&self.link)?;
        let b = t.host_index(&self.bridge)?;
        t.host_nl.set_controller(l, b).with_context(|| format!("adding {} to bridge {}", self.link, self.bridge))
    }
}

/// Bridges an attach created for this guest and interface, for `--detach`
/// to remove once nothing uses them: the bridge of a finished attach whose
/// last port goes now, or one an attach made before it was killed.
fn host_leftovers(host_nl: &Netlink, guest: &Identity, guest_if: &str) -> Result<Steps> {
    let mark = made_for(guest, guest_if);
    let temp = unmarked_name(&mark);
    let mut steps = Steps::new();
    for b in host_nl.links()?.into_iter().filter(|l| l.kind == Some(LinkKind::Bridge)) {
        if b.alias.as_deref() == Some(mark.as_str()) || b.name == temp {
            steps.push(Box::new(DeleteIfUnused { name: b.name, index: b.index }));
        }
    }
    Ok(steps)
}

/// `ip link del BR` for a bridge an attach made, if by now it has no port
/// and no address of the user's: nothing uses it.
#[derive(Debug)]
struct DeleteIfUnused {
    name: String,
    index: u32,
}

impl Step for DeleteIfUnused {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link del {}  # if no port and no address is left on it", self.name)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = self.index;
        // The kernel gives a bridge an IPv6 link-local address of its own
        // once it has had a port; any other address is the user's.
        let users = !t.host_nl.assigned_addresses(i)?.is_empty();
        if !t.host_nl.ports_of(i)?.is_empty() || users {
            return Ok(());
        }
        eprintln!("pipework: removing bridge {}, made by an attach of this interface and now unused", self.name);
        match t.host_nl.delete(i) {
            // Someone else removed it meanwhile: what we wanted.
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            r => r.with_context(|| format!("deleting the unused bridge {}", self.name)),
        }
    }
}

/// A veth whose host side is a Linux bridge port, or any veth when Open
/// vSwitch is not installed: deleting the guest end deletes both.
fn detach(f: &Found) -> Result<Option<Steps>> {
    if f.link.kind != Some(LinkKind::Veth) {
        return Ok(None);
    }
    let peer = veth::host_peer(f)?;
    if let (Some(p), Some(_)) = (&peer, f.vswitch) {
        // Anything but a Linux bridge port may be an OVS port (userspace
        // datapath ports show no controller at all): Open vSwitch's to take.
        if !veth::on_linux_bridge(p, f.host_nl)? {
            return Ok(None);
        }
    }
    let host_side = peer.map(|p| p.name);
    Ok(Some(vec![Box::new(DeleteInGuest { name: f.link.name.clone(), index: f.link.index, host_side })]))
}

/// `br1`, existing or to create, with the host side `veth1pl4242` free or
/// taken by a down leftover.
#[cfg(test)]
pub fn example(exists: bool, stale: bool) -> Box<dyn Kind> {
    let host_side = HostSide { name: "veth1pl4242".into(), stale, clears: None };
    let index = exists.then_some(7);
    Box::new(LinuxBridge { name: "br1".into(), index, up: exists, mtu: 1500, host_side, vlan: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::kinds::kind::testing::{guest, kind_commands, request};

    #[test]
    fn new_bridge_and_stale_host_side() {
        let (c, _) = kind_commands(&*example(false, true), &request("10.0.0.2/24"), &guest());
        assert_eq!(c[0], "ip link add br1 type bridge && ip link set br1 up alias 'pipework: made for eth1 of 4242'");
        assert_eq!(c[1], "ip link del veth1pl4242");
    }

    #[test]
    fn vlan_on_a_new_bridge_filters_and_makes_an_access_port() {
        let host_side = HostSide { name: "veth1pl4242".into(), stale: false, clears: None };
        let vlan = Some(AccessVlan { vid: 10, default_pvid: 1, enable_filtering: false });
        let k = LinuxBridge { name: "br1".into(), index: None, up: false, mtu: 1500, host_side, vlan };
        let mut req = request("10.0.0.2/24");
        req.tag = crate::request::parse_mac_tag("@10").unwrap().1;
        let (c, _) = kind_commands(&k, &req, &guest());
        assert_eq!(
            c,
            [
                "ip link add br1 type bridge vlan_filtering 1 && ip link set br1 up alias 'pipework: made for eth1 of 4242'",
                "ip link add veth1pl4242 mtu 1500 type veth peer name eth1 mtu 1500 netns 4242",
                "sysctl -qw net/ipv6/conf/veth1pl4242/disable_ipv6=1",
                "ip link set veth1pl4242 master br1",
                "bridge vlan add dev veth1pl4242 vid 10 pvid untagged && bridge vlan del dev veth1pl4242 vid 1",
                "ip link set veth1pl4242 up",
                "# then: warn if net.bridge.bridge-nf-call-iptables=1 and the iptables FORWARD policy is DROP",
            ]
        );
    }
}
