//! The fuzz targets' smoke run inside `cargo test` (no libFuzzer, no nightly): each target's
//! harness (fuzz/src/harness.rs) runs over its seeds, the regression inputs in
//! fuzz/regressions/TARGET/ (crashes found by fuzzing, kept once fixed), whatever cargo-fuzz
//! left in fuzz/corpus/TARGET/, and mutations of all of these.
//!
//! IDP_FUZZ_SMOKE_RUNS (default 1500) mutations per target; IDP_FUZZ_SMOKE_SEED picks them
//! (default: a fixed seed, so a failure reproduces); IDP_FUZZ_SMOKE_CORPUS (default 200) corpus
//! entries per target at most. IDP_FUZZ_WRITE_SEEDS=1 writes the seeds
//! into fuzz/corpus/TARGET/ for cargo-fuzz to start from (fuzz/run.sh does).

#[path = "../fuzz/src/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::time::Instant;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn inputs_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .filter_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            // Corpus entries libFuzzer grew past what a smoke run should spend time on.
            (bytes.len() <= 256 * 1024).then(|| (e.path().display().to_string(), bytes))
        })
        .collect();
    out.sort();
    out
}

/// One random change of the kinds libFuzzer makes: flip, insert, delete, duplicate, splice,
/// interesting bytes.
fn mutate(rng: &mut fastrand::Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let len = v.len();
        match rng.u8(0..8) {
            0 if len > 0 => {
                let i = rng.usize(0..len);
                v[i] ^= 1 << rng.u8(0..8);
            }
            1 => {
                let i = rng.usize(0..=len);
                let b = *rng
                    .choice(b"\0\xff{}[]\":,/@.-_ \n\\0123456789aAzZ".iter())
                    .unwrap();
                v.insert(i, b);
            }
            2 if len > 0 => {
                let i = rng.usize(0..len);
                let n = rng.usize(1..=(len - i).min(64));
                v.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.usize(0..len);
                let n = rng.usize(1..=(len - i).min(64));
                let piece: Vec<u8> = v[i..i + n].to_vec();
                let at = rng.usize(0..=v.len());
                v.splice(at..at, piece);
            }
            4 if !other.is_empty() => {
                let i = rng.usize(0..other.len());
                let n = rng.usize(1..=(other.len() - i).min(256));
                let at = rng.usize(0..=v.len());
                v.splice(at..at, other[i..i + n].iter().copied());
            }
            5 if len > 0 => {
                let i = rng.usize(0..len);
                v[i] = *rng
                    .choice([0u8, 0x7f, 0x80, 0xff, b'0', b'9', b'"', b'\\'].iter())
                    .unwrap();
            }
            6 if len > 0 => {
                v.truncate(rng.usize(0..len));
            }
            _ => {
                // A number somewhere becomes a big or negative one.
                let at = rng.usize(0..=v.len());
                let n = *rng
                    .choice(["-1", "18446744073709551615", "1e309", "99999999999"].iter())
                    .unwrap();
                v.splice(at..at, n.bytes());
            }
        }
    }
    v.truncate(1 << 20);
    v
}

fn run_target(name: &str, harness_fn: fn(&[u8])) {
    let dir = fuzz_dir();
    let mut inputs: Vec<(String, Vec<u8>)> = harness::seeds(name)
        .into_iter()
        .enumerate()
        .map(|(i, s)| (format!("seed {i}"), s))
        .collect();
    if std::env::var("IDP_FUZZ_WRITE_SEEDS").as_deref() == Ok("1") {
        let corpus = harness::corpus_dir(&dir, name);
        std::fs::create_dir_all(&corpus).unwrap();
        for (i, (_, bytes)) in inputs.iter().enumerate() {
            std::fs::write(corpus.join(format!("seed-{i}")), bytes).unwrap();
        }
    }
    inputs.extend(inputs_in(&dir.join("regressions").join(name)));
    // What cargo-fuzz found (fuzz/corpus is not committed): a bounded sample, so that a big
    // local corpus does not make `cargo test` slow.
    let corpus = inputs_in(&harness::corpus_dir(&dir, name));
    let keep = env_u64("IDP_FUZZ_SMOKE_CORPUS", 200) as usize;
    let step = corpus.len().div_ceil(keep.max(1)).max(1);
    inputs.extend(corpus.into_iter().step_by(step));
    let started = Instant::now();
    // Every input as it is, first: a regression that fails names its file.
    for (what, bytes) in &inputs {
        let result = std::panic::catch_unwind(|| harness_fn(bytes));
        assert!(result.is_ok(), "{name}: {what} fails the harness");
    }
    let runs = env_u64("IDP_FUZZ_SMOKE_RUNS", 1500);
    let seed = env_u64("IDP_FUZZ_SMOKE_SEED", 0x1d9_9054);
    let mut rng = fastrand::Rng::with_seed(seed ^ name.len() as u64);
    for run in 0..runs {
        let (_, base) = &inputs[rng.usize(0..inputs.len())];
        let (_, other) = &inputs[rng.usize(0..inputs.len())];
        let input = mutate(&mut rng, base, other);
        let result = std::panic::catch_unwind(|| harness_fn(&input));
        if result.is_err() {
            let out = std::env::temp_dir().join(format!("idp-fuzz-smoke-{name}-{run}"));
            std::fs::write(&out, &input).unwrap();
            panic!(
                "{name}: mutation {run} (IDP_FUZZ_SMOKE_SEED={seed}) fails the harness; input \
                 saved as {}: reproduce with `fuzz/run.sh repro {name} {}`",
                out.display(),
                out.display()
            );
        }
    }
    eprintln!(
        "fuzz smoke {name}: {} inputs + {runs} mutations in {:.1?}",
        inputs.len(),
        started.elapsed()
    );
}

macro_rules! smoke {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            run_target(stringify!($name), harness::$name);
        }
    )*};
}

smoke!(
    reference,
    www_authenticate,
    oci_manifest,
    oci_layout,
    docker_config,
    helper_output,
    tar_archive,
    docker_archive
);

#[test]
fn every_target_has_a_smoke_test_and_seeds() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for (name, _) in harness::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} missing from fuzz/Cargo.toml"
        );
        assert!(!harness::seeds(name).is_empty(), "{name} has no seeds");
    }
}

/// The seeds are whole images, so mutations start deep in the readers, not at their first check.
#[test]
fn seeds_are_valid_images() {
    let layout = harness::write_layout(&harness::seeds("oci_layout")[0]);
    let source = format!("oci:{}", layout.path().display());
    harness::open(&source).unwrap_or_else(|e| panic!("layout seed: {e}"));
    let nested = harness::write_layout(&harness::seeds("oci_layout")[1]);
    harness::open(&format!("oci:{}:v1", nested.path().display()))
        .unwrap_or_else(|e| panic!("nested layout seed: {e}"));
    let (_dir, archive) = harness::write_docker_archive(&harness::seeds("docker_archive")[0]);
    harness::open(&format!("docker-archive:{}", archive.display()))
        .unwrap_or_else(|e| panic!("docker archive seed: {e}"));
    for (i, tar) in harness::seeds("tar_archive").iter().take(2).enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, tar).unwrap();
        harness::open(&path.display().to_string()).unwrap_or_else(|e| panic!("tar seed {i}: {e}"));
    }
}
