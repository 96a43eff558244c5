//! `cargo xtask bench`: performance figures measured the same way every time.
//!
//! Benchmarks, not timed tests: they print figures next to their targets and never fail a
//! build because the machine was busy.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use crate::out::outln;
use crate::util::{self, cargo, project_root};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// hello-service under wrk: requests/s, p99 latency, peak RSS, startup time.
    ///
    /// Builds the release binary, starts it with default settings (access log on, to
    /// /dev/null), and runs `wrk -t2 -c64 -d10s --latency` on /hello/world.
    Hello {
        /// wrk's -d, in seconds.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// wrk's -c.
        #[arg(long, default_value_t = 64)]
        connections: u32,
        /// How many cold starts to time (the median is reported).
        #[arg(long, default_value_t = 20)]
        starts: usize,
    },
    /// An incremental local deploy after a one-line greeting change, stage by stage.
    ///
    /// Warms a local stack (target/bench-deploy), edits DEFAULT_GREETING in
    /// hello-service/src/lib.rs (restored afterwards), runs `cargo xtask deploy --local`, and
    /// prints each stage's time next to its target: build + image + push ≤ 20 s; roll +
    /// verify within 2 s of the floor the health-check and drain settings impose.
    ///
    /// With --strategy: deploys with that strategy instead (short settings: bake 1 min,
    /// linear 50 % steps 1 min apart, canary 25 % for 1 min; a local minute lasts 1 s), each
    /// round with its own GREETING (no rebuild), and prints each lifecycle stage's time.
    Deploy {
        /// Incremental deploys to time (each with its own greeting change).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Time the lifecycle stages of a deploy with this strategy.
        #[arg(long, value_enum, value_name = "STRATEGY")]
        strategy: Option<crate::deploy::StrategyName>,
    },
    /// The roll budget's prediction against local rollouts across settings.
    ///
    /// On a local stack (target/bench-plan), for deregistration delay 1 s and 5 s × desired 2
    /// and 4 × min/max 100/200 and 50/100 (set through the AWS API), rolls the service with
    /// `cargo xtask deploy --local --image … --env …` and prints predicted against actual roll
    /// time, and whether each is within 20 %.
    Plan {
        /// Times through all the combinations.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
    },
}

pub fn run(args: BenchArgs) -> Result<()> {
    match args.what {
        Bench::Hello {
            duration,
            connections,
            starts,
        } => hello(duration, connections, starts),
        Bench::Deploy {
            rounds,
            strategy: None,
        } => crate::bench_deploy::run(rounds.max(1)),
        Bench::Deploy {
            rounds,
            strategy: Some(strategy),
        } => crate::bench_strategy::run(strategy, rounds.max(1)),
        Bench::Plan { rounds } => crate::bench_plan::run(rounds.max(1)),
    }
}

fn hello(duration: u64, connections: u32, starts: usize) -> Result<()> {
    util::ensure_debian_tool("wrk", "wrk")?;
    util::run(cargo().args(["build", "--release", "-p", "hello-service"]))?;
    let bin = project_root().join("target/release/hello-service");

    let mut startups: Vec<Duration> = (0..starts.max(1))
        .map(|_| time_startup(&bin))
        .collect::<Result<_>>()?;
    startups.sort();
    let startup = startups[startups.len() / 2];

    let (mut server, port) = start_hello(&bin)?;
    wait_for_ping(port, Duration::from_secs(10))?;
    let wrk = util::output(Command::new("wrk").args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{duration}s"),
        "--latency",
        &format!("http://127.0.0.1:{port}/hello/world"),
    ]))?;
    let peak_rss_kib = peak_rss_kib(server.id());
    let _ = server.kill();
    let _ = server.wait();
    let rps = wrk_requests_per_sec(&wrk)
        .with_context(|| format!("no Requests/sec in wrk output:\n{wrk}"))?;
    let p99 = wrk_p99(&wrk).with_context(|| format!("no 99% latency in wrk output:\n{wrk}"))?;
    let non_2xx = wrk
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"));

    outln!(
        "\nhello-service, release build, default settings (wrk -t2 -c{connections} -d{duration}s /hello/world)"
    );
    outln!("{:<22} {:>14}   target", "", "measured");
    row(
        "requests/s",
        &format!("{rps:.0}"),
        ">= 80000",
        rps >= 80_000.0,
    );
    row(
        "p99 latency",
        &format!("{:.2} ms", p99.as_secs_f64() * 1e3),
        "<= 5 ms",
        p99 <= Duration::from_millis(5),
    );
    match peak_rss_kib {
        Some(kib) => row(
            "peak RSS",
            &format!("{:.1} MB", kib as f64 / 1024.0),
            "<= 15 MB",
            kib <= 15 * 1024,
        ),
        None => outln!("{:<22} {:>14}", "peak RSS", "unavailable"),
    }
    row(
        "startup (median)",
        &format!("{:.2} ms", startup.as_secs_f64() * 1e3),
        "<= 10 ms",
        startup <= Duration::from_millis(10),
    );
    outln!(
        "{:<22} {:>14}",
        "startup (min..max)",
        format!(
            "{:.2}..{:.2} ms",
            ms(startups[0]),
            ms(startups[startups.len() - 1])
        )
    );
    if let Some(line) = non_2xx {
        outln!("wrk reported errors: {}", line.trim());
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn row(name: &str, value: &str, target: &str, met: bool) {
    outln!(
        "{name:<22} {value:>14}   {target} {}",
        if met { "(met)" } else { "(MISSED)" }
    );
}

fn start_hello(bin: &Path) -> Result<(Child, u16)> {
    let port = util::free_port()?;
    let child = Command::new(bin)
        .env("PORT", port.to_string())
        .env_remove("RUST_LOG")
        .env_remove("GREETING")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    Ok((child, port))
}

/// Spawn → first 200 on /ping, polling as fast as the loop goes.
fn time_startup(bin: &Path) -> Result<Duration> {
    let started = Instant::now();
    let (mut child, port) = start_hello(bin)?;
    let result = wait_for_ping(port, Duration::from_secs(10)).map(|()| started.elapsed());
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn wait_for_ping(port: u16, limit: Duration) -> Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ping(addr).unwrap_or(false) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    bail!("hello-service did not answer /ping on port {port} within {limit:?}")
}

fn ping(addr: SocketAddr) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    Ok(&head == b"HTTP/1.1 200")
}

/// VmHWM: the peak resident set of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn wrk_requests_per_sec(out: &str) -> Option<f64> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The `99%` row of wrk's `--latency` distribution.
fn wrk_p99(out: &str) -> Option<Duration> {
    let value = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))?
        .trim();
    parse_wrk_duration(value)
}

fn parse_wrk_duration(value: &str) -> Option<Duration> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let secs = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 10s test @ http://127.0.0.1:8080/hello/world
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.25us  400.21us  12.06ms   89.11%
    Req/Sec    52.61k     3.20k   60.14k    71.50%
  Latency Distribution
     50%  520.00us
     75%  710.00us
     90%    0.96ms
     99%    2.13ms
  1047066 requests in 10.00s, 180.74MB read
Requests/sec: 104689.38
Transfer/sec:     18.07MB
";

    #[test]
    fn reads_wrk_figures() {
        assert_eq!(wrk_requests_per_sec(WRK), Some(104689.38));
        assert_eq!(wrk_p99(WRK), Some(Duration::from_micros(2130)));
        assert_eq!(
            parse_wrk_duration("520.00us"),
            Some(Duration::from_micros(520))
        );
        assert_eq!(
            parse_wrk_duration("1.50s"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_wrk_duration("fast"), None);
    }
}
