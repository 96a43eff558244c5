//! Host ports for tasks. Picked below the kernel's ephemeral range: a port that is merely
//! free *now* in that range can be taken a moment later as the source port of an outgoing
//! connection (a health check, a proxied request), and the task would then fail to bind it.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where the search continues (process-wide, so concurrent local-ecs instances in one
/// process do not hand out the same port).
static CURSOR: AtomicU32 = AtomicU32::new(u32::MAX);

/// The kernel's ephemeral port range.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((parts.next()??, parts.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// The range task ports come from: up to 12,000 ports just below the ephemeral range.
fn task_range() -> (u16, u16) {
    let (ephemeral_low, _) = ephemeral_range();
    let high = ephemeral_low.max(2048);
    let low = high.saturating_sub(12_000).max(1024);
    (low, high)
}

/// A port that is free on all interfaces (apps usually bind 0.0.0.0) and outside the
/// ephemeral range; falls back to any free port when the range is exhausted.
pub fn task_port() -> std::io::Result<u16> {
    let (low, high) = task_range();
    let span = u32::from(high - low);
    if span > 0 {
        // Start somewhere random, so separate processes spread out.
        let _ = CURSOR.compare_exchange(
            u32::MAX,
            rand::random::<u32>() % span,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        for _ in 0..span.min(2000) {
            let offset = CURSOR.fetch_add(1, Ordering::SeqCst) % span;
            let port = low + offset as u16;
            if TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ports_avoid_the_ephemeral_range_and_repeat_rarely() {
        let (ephemeral_low, _) = ephemeral_range();
        let a = task_port().unwrap();
        let b = task_port().unwrap();
        assert_ne!(a, b);
        assert!(
            a < ephemeral_low && b < ephemeral_low,
            "{a} {b} vs {ephemeral_low}"
        );
    }
}
