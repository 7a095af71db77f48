//! `--direct-phys`: HOSTIF itself moves into the guest, renamed, instead of
//! a macvlan on it. Its alias keeps its host name, so that `--detach` (and
//! undo) can send it home under that name.

use anyhow::{bail, Context, Result};
use macaddr::MacAddr6;

use crate::attach::kinds::kind::{no_host_leftovers, Ctx, Entry, Found, Kind, Makes, Probe};
use crate::attach::kinds::ovs;
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::request::format_mac;
use crate::sys::netlink::{Link, LinkKind};
use crate::sys::netns;

pub const ENTRY: Entry = Entry { recognise, detach, host_leftovers: no_host_leftovers };

/// The alias a device moved in carries: its host name after this prefix.
pub const HOME_MARK: &str = "pipework-home:";

#[derive(Debug)]
struct DirectPhys {
    /// What the device is called now.
    name: String,
    /// Its name in the host, as HOSTIF says: it goes home under this name.
    home: String,
    index: u32,
}

fn recognise(p: &Probe) -> Result<Option<Box<dyn Kind>>> {
    if !p.req.direct_phys {
        return Ok(None);
    }
    let came_home;
    let link = match &p.link {
        Some(l) => l,
        // A device whose guest died came home under its name in the guest,
        // still carrying the mark: the same line finds it again.
        None => match p.host_nl.links()?.into_iter().find(|l| home_name(l) == Some(p.name.as_str())) {
            Some(l) => {
                came_home = l;
                &came_home
            }
            None => bail!("--direct-phys moves an existing interface into the guest, and {} does not exist", p.name),
        },
    };
    if link.kind == Some(LinkKind::Bridge) || ovs::is_bridge(link, p.vswitch) {
        bail!("--direct-phys moves a physical interface into the guest, but {} is a bridge", p.name);
    }
    if let Some(tag) = &p.req.tag {
        bail!("--direct-phys moves {} itself into the guest; it cannot also take @{tag}", p.name);
    }
    let home = p.name.clone();
    Ok(Some(Box::new(DirectPhys { name: link.name.clone(), home, index: link.index })))
}

/// The host name a moved device's mark records.
fn home_name(l: &Link) -> Option<&str> {
    l.alias.as_deref().and_then(|a| a.strip_prefix(HOME_MARK))
}

impl Kind for DirectPhys {
    fn host_name(&self) -> &str {
        &self.name
    }

    fn makes(&self) -> Makes {
        Makes::TheInterfaceItself
    }

    fn bring_in(&self, ctx: &Ctx, steps: &mut Steps) -> String {
        let new_name = ctx.guest_if.to_string();
        let home = self.home.clone();
        steps.push(Box::new(MoveIn { link: self.name.clone(), home, index: self.index, new_name, mac: ctx.req.mac }));
        ctx.guest_if.to_string()
    }
}

/// The device moves into the guest under its new name, with the mark;
/// then its MAC, if asked. Undo sends it home.
#[derive(Debug)]
struct MoveIn {
    link: String,
    home: String,
    index: u32,
    new_name: String,
    mac: Option<MacAddr6>,
}

impl Step for MoveIn {
    fn command(&self, g: &GuestNames) -> String {
        let (link, new) = (&self.link, &self.new_name);
        let mac = self.mac.map(|m| format!(" && {} link set {new} address {}", g.ip, format_mac(&m)));
        let home = &self.home;
        format!("ip link set {link} netns {} name {new} alias {HOME_MARK}{home}{}", g.netns, mac.unwrap_or_default())
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let (link, new) = (&self.link, &self.new_name);
        t.host_nl
            .move_to(self.index, t.guest_ns, new, &format!("{HOME_MARK}{}", self.home))
            .with_context(|| format!("moving {link} into guest {} as {new}", t.guest_label))?;
        let gi = t.guest_index(new)?;
        let home = self.home.clone();
        t.on_undo(format!("move {link} back to the host as {home}"), move |t| send_home(t, gi, &home));
        if let Some(mac) = self.mac {
            t.guest_nl.set_mac(gi, mac).with_context(|| format!("setting the MAC of {new}"))?;
        }
        Ok(())
    }
}

/// Down, then out of the guest under its host name, the mark cleared.
fn send_home(t: &Target, index: u32, home_name: &str) -> Result<()> {
    let home = netns::current()?;
    t.guest_nl.set_up(index, false)?;
    t.guest_nl.move_to(index, &home, home_name, "")
}

/// A device carrying the mark, whatever its kind; or one of no virtual kind
/// (a NIC moved in by hand or by an older tool), home under its present name.
fn detach(f: &Found) -> Result<Option<Steps>> {
    let l = f.link;
    let home_name = match home_name(l) {
        Some(home) => home.to_string(),
        None => {
            let virtual_kinds = [
                LinkKind::Veth,
                LinkKind::Macvlan,
                LinkKind::Macvtap,
                LinkKind::Ipvlan,
                LinkKind::Dummy,
                LinkKind::Vlan,
                LinkKind::Ipoib,
            ];
            if l.kind.as_ref().is_some_and(|k| virtual_kinds.contains(k)) {
                return Ok(None);
            }
            l.name.clone()
        }
    };
    Ok(Some(vec![Box::new(MoveHome { name: l.name.clone(), index: l.index, home_name })]))
}

/// `--detach`: the device goes home under the name its mark recorded.
#[derive(Debug)]
struct MoveHome {
    name: String,
    index: u32,
    home_name: String,
}

impl Step for MoveHome {
    fn command(&self, g: &GuestNames) -> String {
        format!("{} link set {} netns 1 name {} alias ''", g.ip, self.name, self.home_name)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        send_home(t, self.index, &self.home_name).with_context(|| {
            format!("moving {} back from guest {} to the host as {}", self.name, t.guest_label, self.home_name)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::kinds::kind::testing::{guest, kind_commands, request};

    #[test]
    fn direct_phys_moves_the_device() {
        let eth2 = DirectPhys { name: "eth2".into(), home: "eth2".into(), index: 3 };
        let (c, made) = kind_commands(&eth2, &request("10.0.0.9/24"), &guest());
        assert_eq!(c, ["ip link set eth2 netns 4242 name eth1 alias pipework-home:eth2"]);
        assert_eq!(made, "eth1", "moved in under its final name: no rename");
    }
}
