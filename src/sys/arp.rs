//! The door to packet sockets: one gratuitous ARP reply for a new address,
//! like `arping -c 1 -A`, sent from a packet socket opened inside the guest,
//! so no arping is needed anywhere.

use std::cell::RefCell;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;

use anyhow::{bail, Context, Result};

use crate::sys::netns;

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

/// Sends gratuitous ARPs, and keeps the packet sockets it used open until it
/// is dropped (see `Drop`). One per attach, or one for a whole batch.
pub struct Announcer {
    /// In a batch, announcements go out from a helper thread.
    helper: Option<(Sender<Job>, JoinHandle<Vec<OwnedFd>>)>,
    /// Packet sockets that have done their work.
    sent: RefCell<Vec<OwnedFd>>,
}

impl Announcer {
    /// Announcements go out before `announce` returns.
    pub fn new() -> Announcer {
        Announcer { helper: None, sent: RefCell::new(Vec::new()) }
    }

    /// For a batch: announcements are sent by a helper thread. A bridge
    /// copies each broadcast to every port inside the sender's sendto, which
    /// with a thousand ports is most of an attach; on the helper thread that
    /// work runs on another core while the next attach goes on. Every
    /// announcement is still out before the announcer is dropped.
    pub fn on_helper_thread() -> Announcer {
        let (tx, rx) = channel::<Job>();
        let worker = std::thread::spawn(move || {
            let mut done = Vec::new();
            for job in rx {
                if let Err(e) = send(&job) {
                    eprintln!("pipework: warning: gratuitous ARP for {} failed: {e:#}", job.ip);
                }
                done.push(job.sock);
            }
            done
        });
        Announcer { helper: Some((tx, worker)), sent: RefCell::new(Vec::new()) }
    }

    /// Announces `ip` at the MAC of the link `index` of the namespace
    /// `guest_ns`. A link without an Ethernet address has nothing to announce.
    pub fn announce(&self, guest_ns: &File, index: u32, mac: Option<[u8; 6]>, ip: Ipv4Addr) -> Result<()> {
        let Some(mac) = mac else { return Ok(()) };
        let sock = {
            let _inside = netns::enter(guest_ns)?;
            // SAFETY: plain socket(2); the result is checked before use.
            let fd = unsafe {
                libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, ETH_P_ARP.to_be() as i32)
            };
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
        to.sll_ifindex = index as i32;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        let job = Job { sock, payload, to, ip };
        let job = match &self.helper {
            Some((tx, _)) => match tx.send(job) {
                Ok(()) => return Ok(()),
                Err(e) => e.0,
            },
            None => job,
        };
        send(&job)?;
        self.sent.borrow_mut().push(job.sock);
        Ok(())
    }
}

impl Default for Announcer {
    fn default() -> Self {
        Announcer::new()
    }
}

impl Drop for Announcer {
    /// The last close of a packet socket waits for an RCU grace period (the
    /// kernel's packet_release calls synchronize_net): about 30 ms here, ten
    /// times the rest of an attach, and per socket. A child that holds copies
    /// of all of them until we have dropped ours makes the final closes its
    /// own, off our path: one fork for one attach or a whole batch.
    fn drop(&mut self) {
        let mut socks = std::mem::take(self.sent.get_mut());
        if let Some((tx, worker)) = self.helper.take() {
            drop(tx);
            socks.extend(worker.join().unwrap_or_default());
        }
        if !socks.is_empty() {
            close_in_background(socks);
        }
    }
}

/// One announcement, ready to go out.
struct Job {
    sock: OwnedFd,
    payload: [u8; 28],
    to: libc::sockaddr_ll,
    ip: Ipv4Addr,
}

// SAFETY: sockaddr_ll is plain data; the descriptor moves with the job.
unsafe impl Send for Job {}

fn send(job: &Job) -> Result<()> {
    // SAFETY: pointers and lengths describe live, correctly sized buffers.
    let n = unsafe {
        libc::sendto(
            job.sock.as_raw_fd(),
            job.payload.as_ptr().cast(),
            job.payload.len(),
            0,
            (&job.to as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error()).context("sending the gratuitous ARP");
    }
    if n as usize != job.payload.len() {
        bail!("short write sending the gratuitous ARP");
    }
    Ok(())
}

/// Hands the last references of `socks` to a child that exits once ours are
/// closed. The child is not waited for: it exits by itself, and pipework
/// exits soon after (a batch drops its announcer once, at the end).
fn close_in_background(socks: Vec<OwnedFd>) {
    use nix::unistd::{fork, pipe, read, ForkResult};
    let Ok((rx, tx)) = pipe() else { return drop(socks) };
    // SAFETY: no other thread of ours runs now (the helper was joined), and
    // the child only calls read(2) and _exit(2).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(tx);
            let mut b = [0u8; 1];
            let _ = read(&rx, &mut b); // EOF once the parent closed its copies
                                       // SAFETY: _exit skips Rust's cleanup, which is not ours to run.
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Parent { .. }) => {
            drop(socks);
            drop(tx);
        }
        Err(_) => drop(socks),
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
