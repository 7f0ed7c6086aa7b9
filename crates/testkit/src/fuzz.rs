//! The fuzz targets' bodies on a stable toolchain, inside the normal test run: every input kept
//! in `fuzz/regressions/<target>/` is replayed, then seeds are mutated for a bounded number of
//! iterations and time. It has no coverage guidance (that is what `cargo fuzz` adds, on
//! nightly flags); what it gives is that every test run exercises the targets with new inputs
//! and that every crash ever found stays fixed.
//!
//! Mutation is seeded: a failure names its seed (`HIKYAKU_FUZZ_SEED` replays it) and writes the
//! input to a file, to be copied into the regressions directory with the fix.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift64*): a seed names a whole run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Changes `input` in 1 to 8 random steps: bytes flipped, inserted, removed or repeated, runs
/// duplicated, the input cut short, or a token of `dictionary` (the protocol's own words, which
/// random bytes would hardly ever spell) inserted.
pub fn mutate(rng: &mut Rng, input: &[u8], dictionary: &[&[u8]]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(8) {
        if out.is_empty() {
            out.push(rng.next_u64() as u8);
        }
        let at = rng.below(out.len());
        match rng.below(7) {
            0 => out[at] = rng.next_u64() as u8,
            1 => out[at] ^= 1 << rng.below(8),
            2 => out.truncate(at),
            3 => {
                let len = rng.below(64).min(out.len() - at);
                let run = out[at..at + len].to_vec();
                for _ in 0..1 + rng.below(50) {
                    out.splice(at..at, run.iter().copied());
                }
            }
            4 if !dictionary.is_empty() => {
                let token = dictionary[rng.below(dictionary.len())];
                out.splice(at..at, token.iter().copied());
            }
            5 => {
                out.remove(at);
            }
            _ => out.insert(at, out[at]),
        }
    }
    out
}

/// One fuzz target as the stable harness runs it.
pub struct Target<'a> {
    /// The target's name under `fuzz/fuzz_targets/` and `fuzz/regressions/`.
    pub name: &'a str,
    /// Inputs to start mutating from (valid ones reach deeper).
    pub seeds: Vec<Vec<u8>>,
    pub dictionary: &'a [&'a [u8]],
    /// Mutated inputs to try, unless `budget` runs out first (`HIKYAKU_FUZZ_ITERATIONS`).
    pub iterations: u64,
    /// Wall-clock limit for the mutation part (`HIKYAKU_FUZZ_SECONDS`).
    pub budget: Duration,
}

/// The directory of inputs that once failed `target`.
pub fn regressions_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target)
}

/// Replays the regressions, then mutates. `body` is the fuzz target's body: `Err` or a panic
/// is a failure. Panics (failing the test) with the seed and the saved input on the first one.
pub fn run(target: Target<'_>, body: impl Fn(&[u8]) -> Result<(), String>) {
    let check = |input: &[u8]| -> Result<(), String> {
        match catch_unwind(AssertUnwindSafe(|| body(input))) {
            Ok(result) => result,
            Err(panic) => Err(panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".to_string())),
        }
    };

    let dir = regressions_dir(target.name);
    let mut replayed = 0;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths.iter().filter(|p| p.is_file()) {
            let input = std::fs::read(path).unwrap();
            if let Err(error) = check(&input) {
                panic!(
                    "{}: regression {} fails: {error}",
                    target.name,
                    path.display()
                );
            }
            replayed += 1;
        }
    }

    let seed = match std::env::var("HIKYAKU_FUZZ_SEED") {
        Ok(text) => text.parse().expect("HIKYAKU_FUZZ_SEED is a number"),
        // A new seed every run, so that runs explore instead of repeating one another.
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    };
    let iterations = env_number("HIKYAKU_FUZZ_ITERATIONS").unwrap_or(target.iterations);
    let budget = env_number("HIKYAKU_FUZZ_SECONDS").map_or(target.budget, Duration::from_secs);
    let mut rng = Rng::new(seed);
    // Inputs that were tried become parents too now and then, so changes accumulate.
    let mut pool = target.seeds.clone();
    pool.push(Vec::new());
    let started = Instant::now();
    let mut done = 0;
    while done < iterations && started.elapsed() < budget {
        let parent = &pool[rng.below(pool.len())];
        let input = mutate(&mut rng, parent, target.dictionary);
        if let Err(error) = check(&input) {
            let saved =
                std::env::temp_dir().join(format!("hikyaku-fuzz-{}-{seed}-{done}", target.name));
            std::fs::write(&saved, &input).unwrap();
            panic!(
                "{}: input {done} of seed {seed} fails: {error}\n\
                 saved to {}; replay with HIKYAKU_FUZZ_SEED={seed}, and keep it with the fix \
                 in {}",
                target.name,
                saved.display(),
                dir.display()
            );
        }
        if rng.below(8) == 0 && input.len() < 1 << 16 {
            pool.push(input);
        }
        done += 1;
    }
    eprintln!(
        "{}: {replayed} regressions replayed, {done} mutated inputs from seed {seed} in {:?}",
        target.name,
        started.elapsed()
    );
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|text| {
        text.parse()
            .unwrap_or_else(|_| panic!("{name} is a number"))
    })
}
