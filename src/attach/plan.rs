//! Request + facts → an ordered list of steps. Pure: no I/O, so every
//! decision about what to create and in which order is unit-tested without
//! root, and the same steps print as the commands they stand for.
//!
//! The kind of host interface supplies the steps that bring the device into
//! the guest; this module keeps only the order that crosses kinds: the
//! device first, then the guest side, then a parent that comes up last,
//! then DHCP (once traffic passes), then the gratuitous ARP (once the port
//! forwards).

use std::net::IpAddr;

use crate::attach::configure::{
    AddAddress, AddGatewayRoute, AddRoute, Announce, AwaitSlaac, Dhcp, DropDefaultRoutes, EnableIpv6, GuestUp, Rename,
    ReplaceDefault, SourceRouting, Sysctl, Tune,
};
use crate::attach::facts::Facts;
use crate::attach::kinds::Ctx;
use crate::attach::step::Steps;
use crate::dhcp::DhcpSpec;
use crate::guest::GuestNames;
use crate::request::{AddressSpec, Addressed, Attach, Family};

#[derive(Debug)]
pub struct Plan {
    pub steps: Steps,
}

pub fn plan(req: &Attach, f: &Facts) -> Plan {
    let guest_if = f.guest_if.as_str().to_string();
    let ctx = Ctx { req, guest_if: &guest_if, guest: &f.guest };
    let mut steps: Steps = Vec::new();

    let made = f.kind.bring_in(&ctx, &mut steps);
    if made != guest_if {
        steps.push(Box::new(Rename { from: made, to: guest_if.clone() }));
    }
    let t = &req.tuning;
    if t.mtu.is_some() || t.txqueuelen.is_some() || t.promisc {
        steps.push(Box::new(Tune { link: guest_if.clone(), mtu: t.mtu, txqueuelen: t.txqueuelen, promisc: t.promisc }));
    }
    for (key, value) in &t.sysctls {
        steps.push(Box::new(Sysctl { key: key.clone(), value: value.clone() }));
    }

    let addrs: &[Addressed] = match &req.address {
        AddressSpec::Static { addrs } => addrs,
        _ => &[],
    };
    let gateways: Vec<IpAddr> = match &req.address {
        AddressSpec::Static { addrs } => addrs.iter().filter_map(|a| a.gateway).collect(),
        AddressSpec::None { gateway } => gateway.iter().copied().collect(),
        AddressSpec::Dhcp { .. } | AddressSpec::Slaac => Vec::new(),
    };
    let slaac = req.address == AddressSpec::Slaac;
    if slaac || addrs.iter().any(|a| a.addr.addr().is_ipv6()) {
        steps.push(Box::new(EnableIpv6 { link: guest_if.clone() }));
    }
    if slaac {
        // Router advertisements accepted on this interface (2: even if
        // the guest forwards), and addresses made from their prefixes.
        for (key, value) in [("accept_ra", "2"), ("autoconf", "1")] {
            let key = format!("net/ipv6/conf/{guest_if}/{key}");
            steps.push(Box::new(Sysctl { key, value: value.to_string() }));
        }
    }
    for a in addrs {
        steps.push(Box::new(AddAddress { link: guest_if.clone(), addr: a.addr, nodad: req.nodad }));
    }
    steps.push(Box::new(GuestUp { link: guest_if.clone() }));
    if let Some(table) = req.table {
        for a in addrs {
            steps.push(Box::new(SourceRouting { link: guest_if.clone(), addr: a.addr, table }));
        }
    }
    for gw in gateways {
        // With --metric or --table the guest's own default routes stay.
        if req.metric.is_none() && req.table.is_none() {
            steps.push(Box::new(DropDefaultRoutes { family: Family::of(&gw) }));
        }
        // The reference asks the kernel whether GW is reachable; the only
        // routes that can make it reachable over this new interface are the
        // prefixes of its addresses, so the answer is known here.
        if !addrs.iter().any(|a| a.addr.contains(&gw)) {
            steps.push(Box::new(AddGatewayRoute { link: guest_if.clone(), gateway: gw, table: req.table }));
        }
        let (metric, table) = (req.metric, req.table);
        steps.push(Box::new(ReplaceDefault { link: guest_if.clone(), gateway: gw, metric, table }));
    }
    for route in &req.routes {
        steps.push(Box::new(AddRoute { link: guest_if.clone(), route: route.clone() }));
    }

    f.kind.finish(&ctx, &mut steps);

    let bridge_port = f.kind.bridge_port(&ctx);
    if slaac {
        steps.push(Box::new(AwaitSlaac { link: guest_if.clone(), timeout: req.dhcp_timeout }));
    }
    if let AddressSpec::Dhcp { method, options } = &req.address {
        let spec = DhcpSpec {
            link: guest_if.clone(),
            method: *method,
            options: options.clone(),
            hostname: f.guest.label.clone(),
            container: f.guest.container.as_ref().map(|c| c.id.clone()),
            guest_pid: f.guest.pid,
            timeout: req.dhcp_timeout,
        };
        steps.push(Box::new(Dhcp { spec, bridge_port: bridge_port.clone() }));
    }
    for a in addrs {
        if let IpAddr::V4(ip) = a.addr.addr() {
            steps.push(Box::new(Announce { link: guest_if.clone(), ip, bridge_port: bridge_port.clone() }));
        }
    }
    Plan { steps }
}

impl Plan {
    /// The plan as commands, one per step.
    pub fn commands(&self, names: &GuestNames) -> Vec<String> {
        self.steps.iter().map(|s| s.command(names)).collect()
    }

    /// `--dry-run`: the plan as commands, one per line.
    pub fn print(&self, names: &GuestNames) {
        for line in self.commands(names) {
            println!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::kinds::examples::{linux_bridge, macvlan_parent};
    use crate::attach::kinds::kind::testing::{guest, request};
    use crate::attach::kinds::Kind;
    use crate::request::IfName;

    fn commands(kind: Box<dyn Kind>, req: &Attach) -> Vec<String> {
        let facts = Facts { kind, guest_if: IfName::parse("eth1", "t").unwrap(), guest: guest() };
        plan(req, &facts).commands(&GuestNames::pid(4242))
    }

    #[test]
    fn bridge_with_gateway_in_prefix() {
        assert_eq!(
            commands(linux_bridge(), &request("10.10.103.95/24@10.10.103.254")),
            [
                "ip link add veth1pl4242 mtu 1500 type veth peer name eth1 mtu 1500 netns 4242",
                "sysctl -qw net/ipv6/conf/veth1pl4242/disable_ipv6=1",
                "ip link set veth1pl4242 master br1",
                "nsenter -t 4242 -n ip addr add 10.10.103.95/24 brd 10.10.103.255 dev eth1",
                "nsenter -t 4242 -n ip link set eth1 up",
                "nsenter -t 4242 -n ip -f inet route del default",
                "nsenter -t 4242 -n ip route replace default via 10.10.103.254 dev eth1",
                "ip link set veth1pl4242 up",
                "# then: warn if net.bridge.bridge-nf-call-iptables=1 and the iptables FORWARD policy is DROP",
                "nsenter -t 4242 -n arping -c 1 -A -I eth1 10.10.103.95",
            ]
        );
    }

    #[test]
    fn off_link_gateway_gets_a_host_route() {
        let c = commands(linux_bridge(), &request("10.0.0.2/32@192.168.9.1"));
        assert!(c.contains(&"nsenter -t 4242 -n ip route add 192.168.9.1 dev eth1 scope link".to_string()), "{c:?}");
    }

    #[test]
    fn macvlan_is_born_in_the_guest_then_renamed() {
        assert_eq!(
            commands(macvlan_parent(), &request("0/0")),
            [
                "ip link add link eth2 name ph4242eth1 mtu 1500 netns 4242 type macvlan mode bridge",
                "nsenter -t 4242 -n ip link set ph4242eth1 name eth1",
                "nsenter -t 4242 -n ip link set eth1 up",
                "ip link set eth2 up",
            ]
        );
    }

    #[test]
    fn dhcp_comes_last_after_a_down_parent_is_up() {
        assert_eq!(
            commands(macvlan_parent(), &request("udhcpc"))[2..],
            [
                "nsenter -t 4242 -n ip link set eth1 up",
                "ip link set eth2 up",
                "nsenter -t 4242 -n udhcpc -q -i eth1 -x hostname:web1 -p /var/run/udhcpc.web1.pid",
            ]
        );
    }

    #[test]
    fn dual_stack_with_a_metric_keeps_the_old_defaults() {
        let mut req = request("10.0.0.5/24@10.0.0.1,2001:db8::5/64@2001:db8::1");
        req.metric = Some(200);
        req.nodad = true;
        let c = commands(linux_bridge(), &req);
        assert!(c.contains(&"nsenter -t 4242 -n ip addr add 2001:db8::5/64 dev eth1 nodad".to_string()), "{c:?}");
        assert!(!c.iter().any(|l| l.contains("route del default")), "{c:?}");
        assert!(c.contains(&"nsenter -t 4242 -n ip route append default via 10.0.0.1 dev eth1 metric 200".to_string()));
        assert!(
            c.contains(&"nsenter -t 4242 -n ip route append default via 2001:db8::1 dev eth1 metric 200".to_string())
        );
        assert_eq!(c.iter().filter(|l| l.contains("arping")).count(), 1, "{c:?}");
    }

    #[test]
    fn a_table_of_its_own_leaves_the_main_defaults() {
        let mut req = request("10.0.0.5/24@10.0.0.1");
        req.table = Some(100);
        let c = commands(linux_bridge(), &req);
        assert!(!c.iter().any(|l| l.contains("route del default")), "{c:?}");
        assert!(c.contains(
            &"nsenter -t 4242 -n ip route add 10.0.0.0/24 dev eth1 src 10.0.0.5 scope link table 100 \
              && nsenter -t 4242 -n ip rule add from 10.0.0.5 lookup 100"
                .to_string()
        ));
        assert!(c.contains(&"nsenter -t 4242 -n ip route replace default via 10.0.0.1 dev eth1 table 100".to_string()));
    }

    #[test]
    fn ipv6_has_no_arp() {
        let c = commands(linux_bridge(), &request("2001:db8::5/64@2001:db8::1"));
        assert!(!c.iter().any(|l| l.contains("arping")), "{c:?}");
        assert!(c.contains(&"nsenter -t 4242 -n ip -f inet6 route del default".to_string()), "{c:?}");
    }
}
