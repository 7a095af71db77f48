//! The door to netfilter, asked one question: does it drop the traffic a
//! Linux bridge forwards? With `net.bridge.bridge-nf-call-iptables=1` (the
//! default where br_netfilter is built in), bridged frames go through the
//! FORWARD chain, and a DROP policy there (as Docker sets) silently cuts
//! guests on a bridge off from each other.
//!
//! The chain's policy is read from nf_tables over netlink, which costs no
//! fork; only when it drops is `iptables -S FORWARD` run, to see whether a
//! rule accepts bridged traffic before the policy applies.

use std::process::{Command, Stdio};

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_POLICY: u16 = 5;
const NF_DROP: u32 = 0;
const NLMSG_ERROR: u16 = 2;

/// The families whose bridged traffic this namespace's netfilter drops by
/// policy, with what the warning names: (family, sysctl, program).
pub fn bridged_traffic_dropped() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut dropped = Vec::new();
    let mut socket = None;
    for (family, nfproto, sysctl, program) in [
        ("IPv4", libc::NFPROTO_IPV4 as u8, "bridge-nf-call-iptables", "iptables"),
        ("IPv6", libc::NFPROTO_IPV6 as u8, "bridge-nf-call-ip6tables", "ip6tables"),
    ] {
        let passed = std::fs::read_to_string(format!("/proc/sys/net/bridge/{sysctl}")).is_ok_and(|v| v.trim() == "1");
        if !passed {
            continue;
        }
        if socket.is_none() {
            socket = nftables_socket();
        }
        let policy = socket.as_mut().and_then(|s| forward_policy(s, nfproto));
        if policy == Some(NF_DROP) && !bridged_accepted(program) {
            dropped.push((family, sysctl, program));
        }
    }
    dropped
}

/// One netfilter netlink socket, for both families' questions.
fn nftables_socket() -> Option<Socket> {
    let mut socket = Socket::new(NETLINK_NETFILTER).ok()?;
    socket.bind_auto().ok()?;
    socket.connect(&SocketAddr::new(0, 0)).ok()?;
    Some(socket)
}

/// The policy of the `filter` table's `FORWARD` chain, as iptables-nft
/// keeps it; None when there is no such chain (nothing drops).
fn forward_policy(socket: &mut Socket, nfproto: u8) -> Option<u32> {
    let mut attrs = Vec::new();
    for (kind, value) in [(NFTA_CHAIN_TABLE, &b"filter\0"[..]), (NFTA_CHAIN_NAME, &b"FORWARD\0"[..])] {
        let len = 4 + value.len();
        attrs.extend((len as u16).to_ne_bytes());
        attrs.extend(kind.to_ne_bytes());
        attrs.extend(value);
        attrs.resize(attrs.len().next_multiple_of(4), 0);
    }
    // nlmsghdr (16) + nfgenmsg (4) + attributes.
    let total = 16 + 4 + attrs.len();
    let mut msg = Vec::with_capacity(total);
    msg.extend((total as u32).to_ne_bytes());
    msg.extend(((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETCHAIN).to_ne_bytes());
    // No ACK asked: a GET answers with the chain or an error, one message,
    // so the same socket serves the next question.
    msg.extend((libc::NLM_F_REQUEST as u16).to_ne_bytes());
    msg.extend(1u32.to_ne_bytes());
    msg.extend(0u32.to_ne_bytes());
    msg.extend([nfproto, 0, 0, 0]);
    msg.extend(attrs);
    socket.send(&msg, 0).ok()?;
    let mut buf = Vec::with_capacity(8192);
    socket.recv(&mut buf, 0).ok()?;
    parse_policy(&buf)
}

/// The chain's NFTA_CHAIN_POLICY from the first message of the answer; an
/// error answer (no table, no chain) is None.
fn parse_policy(buf: &[u8]) -> Option<u32> {
    let kind = u16::from_ne_bytes(buf.get(4..6)?.try_into().ok()?);
    if kind == NLMSG_ERROR {
        return None;
    }
    let len = u32::from_ne_bytes(buf.get(0..4)?.try_into().ok()?) as usize;
    let mut at = 16 + 4;
    while at + 4 <= len.min(buf.len()) {
        let alen = u16::from_ne_bytes(buf[at..at + 2].try_into().ok()?) as usize;
        let akind = u16::from_ne_bytes(buf[at + 2..at + 4].try_into().ok()?) & 0x3fff;
        if alen < 4 {
            return None;
        }
        if akind == NFTA_CHAIN_POLICY && alen >= 8 {
            return Some(u32::from_be_bytes(buf[at + 4..at + 8].try_into().ok()?));
        }
        at += alen.next_multiple_of(4);
    }
    None
}

/// A FORWARD rule accepts bridged traffic before the policy (the usual fix).
fn bridged_accepted(program: &str) -> bool {
    let Ok(path) = which::which(program) else { return false };
    let out = Command::new(path).args(["-w", "2", "-S", "FORWARD"]).stdin(Stdio::null()).stderr(Stdio::null()).output();
    out.is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.contains("--physdev-is-bridged") && l.contains("-j ACCEPT"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_answer_and_an_error() {
        // nlmsghdr, nfgenmsg, NFTA_CHAIN_TABLE "filter", NFTA_CHAIN_POLICY DROP.
        let mut m = Vec::new();
        m.extend(40u32.to_ne_bytes());
        m.extend(((NFNL_SUBSYS_NFTABLES << 8) | 3).to_ne_bytes());
        m.extend([0u8; 10]);
        m.extend([2, 0, 0, 0]);
        m.extend(11u16.to_ne_bytes());
        m.extend(NFTA_CHAIN_TABLE.to_ne_bytes());
        m.extend(b"filter\0\0");
        m.extend(8u16.to_ne_bytes());
        m.extend(NFTA_CHAIN_POLICY.to_ne_bytes());
        m.extend(0u32.to_be_bytes());
        assert_eq!(parse_policy(&m), Some(NF_DROP));
        let mut e = m.clone();
        e[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert_eq!(parse_policy(&e), None);
    }
}
