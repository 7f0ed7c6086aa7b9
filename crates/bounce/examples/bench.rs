//! Measures analyses per second on one core over a corpus directory's `*.eml` files:
//! `cargo run -p hikyaku-bounce --example bench --release -- /work/shared/corpus/bounces [SECONDS]`.
//! `--rounds N` in place of SECONDS runs exactly N timed rounds: the fixed work to count
//! instructions over (`valgrind --tool=callgrind`), which a time budget would not give.
//! Prints figures; it is not a test. Besides the wall-clock rate it prints the rate per
//! second of this process's own CPU time (Linux), the figure that stays put when other work
//! shares the machine.

use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: bench CORPUS_DIR [SECONDS | --rounds N]")?;
    let (seconds, rounds): (f64, Option<usize>) = match args.next().as_deref() {
        Some("--rounds") => (0.0, Some(args.next().ok_or("--rounds N")?.parse()?)),
        Some(s) => (s.parse()?, None),
        None => (3.0, None),
    };
    let mut messages = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "eml") {
            messages.push(std::fs::read(&path)?);
        }
    }
    if messages.is_empty() {
        return Err("no .eml files".into());
    }
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let budget = Duration::from_secs_f64(seconds);
    // One untimed round: the tables built on first use are not the steady rate.
    for m in &messages {
        hikyaku_bounce::analyse(m);
    }
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let (mut done, mut records) = (0usize, 0usize);
    while rounds.map_or(start.elapsed() < budget, |n| done < n * messages.len()) {
        for m in &messages {
            records += hikyaku_bounce::analyse(m).records.len();
        }
        done += messages.len();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu_start).map(|(end, start)| end - start);
    println!(
        "{} messages ({} KiB) x {} rounds in {:.2} s: {:.0} messages/s, {:.1} MiB/s, {} records",
        messages.len(),
        bytes / 1024,
        done / messages.len(),
        elapsed,
        done as f64 / elapsed,
        (bytes * (done / messages.len())) as f64 / elapsed / (1 << 20) as f64,
        records
    );
    if let Some(cpu) = cpu.filter(|&c| c > 0.0) {
        println!(
            "{:.2} s of CPU: {:.0} messages per CPU-second",
            cpu,
            done as f64 / cpu
        );
    }
    Ok(())
}

/// User and system time of this process so far, from `/proc/self/stat` (clock ticks of
/// 1/100 s, Linux's `USER_HZ`); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
