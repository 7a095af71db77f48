//! One gratuitous ARP reply for a new address, like `arping -c 1 -A`, sent
//! from a packet socket opened inside the guest: no arping needed anywhere.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{bail, Context, Result};

use crate::netlink::Link;
use crate::netns;

const ETH_P_ARP: u16 = 0x0806;
const ARP_REPLY: u16 = 2;

/// The 28-byte ARP payload announcing that `ip` is at `mac`; sender and
/// target are both us, which is what makes it gratuitous.
pub fn announcement(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&ARP_REPLY.to_be_bytes());
    p[8..14].copy_from_slice(&mac);
    p[14..18].copy_from_slice(&ip.octets());
    p[18..24].copy_from_slice(&mac);
    p[24..28].copy_from_slice(&ip.octets());
    p
}

pub fn announce(guest_ns: &File, link: &Link, ip: Ipv4Addr) -> Result<()> {
    let Some(mac) = link.mac.as_deref().and_then(|m| <[u8; 6]>::try_from(m).ok()) else {
        return Ok(()); // not Ethernet: nothing to announce
    };
    let sock = {
        let _inside = netns::enter(guest_ns)?;
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, ETH_P_ARP.to_be() as i32) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("opening a packet socket in the guest");
        }
        // SAFETY: fd is a fresh descriptor we own.
        unsafe { OwnedFd::from_raw_fd(fd) }
    };
    let payload = announcement(mac, ip);
    // SAFETY: sockaddr_ll is plain old data; zeroed is a valid start.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_protocol = ETH_P_ARP.to_be();
    to.sll_ifindex = link.index as i32;
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    // SAFETY: pointers and lengths describe live, correctly sized buffers.
    let n = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            payload.as_ptr().cast(),
            payload.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error()).context("sending the gratuitous ARP");
    }
    if n as usize != payload.len() {
        bail!("short write sending the gratuitous ARP");
    }
    close_in_background(sock);
    Ok(())
}

/// The last close of a packet socket waits for an RCU grace period (the
/// kernel's packet_release calls synchronize_net): about 30 ms here, ten
/// times the rest of an attach. A child that holds a copy of the socket until
/// we have dropped ours makes the final close its own, off our path.
fn close_in_background(sock: OwnedFd) {
    use nix::unistd::{fork, pipe, read, ForkResult};
    let Ok((rx, tx)) = pipe() else { return drop(sock) };
    // SAFETY: we are single-threaded here (current-thread runtime, no
    // blocking pool), and the child only calls read(2) and _exit(2).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(tx);
            let mut b = [0u8; 1];
            let _ = read(&rx, &mut b); // EOF once the parent closed its copies
            // SAFETY: _exit skips Rust's cleanup, which is not ours to run.
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Parent { .. }) => {
            drop(sock);
            drop(tx);
        }
        Err(_) => drop(sock),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gratuitous_reply_layout() {
        let p = announcement([2, 0, 0, 0, 0, 9], Ipv4Addr::new(10, 0, 0, 9));
        assert_eq!(&p[6..8], &[0, 2]);
        assert_eq!(&p[14..18], &p[24..28]);
        assert_eq!(&p[8..14], &[2, 0, 0, 0, 0, 9]);
    }
}
