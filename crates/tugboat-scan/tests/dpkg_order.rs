//! tug's dpkg version order against the real `dpkg --compare-versions`, over thousands of pairs of
//! version strings taken from this machine's package lists (issue 19: "checked against
//! `dpkg --compare-versions` on this machine over thousands of real version pairs").
//!
//! Sources: `/var/lib/dpkg/status` and every `/var/lib/apt/lists/*_Packages` (plain, or compressed
//! as apt stores them: read through `apt-helper cat-file`, apt's own decompressor). Pairs are built
//! deterministically: sorted neighbours, partners drawn by a fixed-seed LCG, versions of the same
//! package, and versions with epochs or tildes against each other and against variants of themselves.
//! dpkg answers through one `sh` script per 500 pairs (at most two dpkg runs a pair), scripts in parallel.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use tugboat_scan::version::compare;
use tugboat_scan::Scheme;

const STATUS: &str = "/var/lib/dpkg/status";
const LISTS: &str = "/var/lib/apt/lists";
const APT_HELPER: &str = "/usr/lib/apt/apt-helper";
const MIN_VERSIONS: usize = 3000;
const CHUNK: usize = 500;

/// (package, version) of each stanza of a dpkg status or apt Packages file.
fn stanzas(text: &str, into: &mut Vec<(String, String)>) {
    let mut package = None;
    for line in text.lines() {
        if line.is_empty() {
            package = None;
        } else if let Some(p) = line.strip_prefix("Package:") {
            package = Some(p.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version:") {
            if let Some(p) = &package {
                into.push((p.clone(), v.trim().to_string()));
            }
        }
    }
}

fn read_lists() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let status = std::fs::read_to_string(STATUS).unwrap_or_else(|e| panic!("reading {STATUS}: {e}"));
    stanzas(&status, &mut found);
    let mut lists: Vec<PathBuf> =
        std::fs::read_dir(LISTS).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    lists.sort();
    for path in lists {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some((_, ext)) = name.split_once("_Packages") else { continue };
        let text = if ext.is_empty() {
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        } else {
            if !Path::new(APT_HELPER).exists() {
                panic!("{} is compressed ({ext}) and {APT_HELPER} (package apt) is missing to read it", path.display());
            }
            let out = Command::new(APT_HELPER).arg("cat-file").arg(&path).output();
            let out = out.unwrap_or_else(|e| panic!("running {APT_HELPER} cat-file {}: {e}", path.display()));
            assert!(out.status.success(), "{APT_HELPER} cat-file {} failed: {}", path.display(), out.status);
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        stanzas(&text, &mut found);
    }
    found
}

/// Knuth's MMIX LCG, fixed seed: the same pairs on every run over the same lists.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn distinct(found: &[(String, String)]) -> usize {
    found.iter().map(|(_, v)| v).collect::<BTreeSet<_>>().len()
}

/// Every `len / want`-th index, so that a long list contributes about `want` items.
fn spread(len: usize, want: usize) -> impl Iterator<Item = usize> {
    (0..len).step_by((len / want.max(1)).max(1))
}

fn build_pairs(found: &[(String, String)]) -> BTreeSet<(String, String)> {
    let versions: Vec<&str> = found.iter().map(|(_, v)| v.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    let n = versions.len();
    assert!(
        n >= MIN_VERSIONS,
        "only {n} distinct versions in {STATUS} and {LISTS}/*_Packages, at least {MIN_VERSIONS} needed: \
         run `apt-get update` so that the package lists are present"
    );
    let mut pairs = BTreeSet::new();
    let mut lcg = Lcg(19);
    let mut add = |a: &str, b: &str| {
        // Versions beginning with `-` would be read by dpkg as options; none occur in real lists.
        if a != b && !a.starts_with('-') && !b.starts_with('-') {
            pairs.insert((a.to_string(), b.to_string()));
        }
    };

    // Sorted neighbours share long prefixes: the hard cases of the alternating comparison.
    for i in spread(n - 1, 1500) {
        add(versions[i], versions[i + 1]);
    }
    // Partners chosen at random (fixed seed) across the whole list.
    for i in spread(n, 1500) {
        let j = lcg.below(n);
        add(versions[i], versions[j]);
    }
    // Versions of the same package (installed against archive, archive against security updates).
    let mut by_package: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (p, v) in found {
        by_package.entry(p).or_default().insert(v);
    }
    let same: Vec<(&str, &str)> = by_package
        .values()
        .flat_map(|vs| vs.iter().zip(vs.iter().skip(1)).map(|(a, b)| (*a, *b)).collect::<Vec<_>>())
        .collect();
    for i in spread(same.len(), 1500) {
        add(same[i].0, same[i].1);
    }
    // Epochs and tildes: against each other, and against themselves without the epoch, with `~`
    // turned into `+`, and with one more `~` (each must land on the right side of the original).
    let special: Vec<&str> = versions.iter().copied().filter(|v| v.contains(':') || v.contains('~')).collect();
    for i in spread(special.len(), 700) {
        let v = special[i];
        add(v, special[lcg.below(special.len())]);
        if let Some((_, rest)) = v.split_once(':') {
            add(v, rest);
        }
        if v.contains('~') {
            add(v, &v.replacen('~', "+", 1));
        }
        add(v, &format!("{v}~"));
    }
    // Equal spellings: an explicit zero epoch.
    for i in spread(n, 300) {
        if !versions[i].contains(':') {
            add(versions[i], &format!("0:{}", versions[i]));
        }
    }
    pairs
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// dpkg's answer per pair: `Some(order)`, or `None` where dpkg rejects a version (exit 2).
fn ask_dpkg(pairs: &[(String, String)]) -> Vec<Option<Ordering>> {
    const FUNCTION: &str = r#"c() {
  dpkg --compare-versions "$1" lt "$2" 2>/dev/null; r=$?
  if [ $r -eq 0 ]; then echo lt; return; fi
  if [ $r -ne 1 ]; then echo err; return; fi
  dpkg --compare-versions "$1" eq "$2" 2>/dev/null; r=$?
  if [ $r -eq 0 ]; then echo eq; elif [ $r -eq 1 ]; then echo gt; else echo err; fi
}
"#;
    let chunks: Vec<&[(String, String)]> = pairs.chunks(CHUNK).collect();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(chunks.len()).max(1);
    let mut answers: Vec<Vec<Option<Ordering>>> = vec![Vec::new(); chunks.len()];
    std::thread::scope(|scope| {
        for (w, slots) in answers.chunks_mut(chunks.len().div_ceil(workers)).enumerate() {
            let first = w * chunks.len().div_ceil(workers);
            let chunks = &chunks;
            scope.spawn(move || {
                for (k, slot) in slots.iter_mut().enumerate() {
                    let chunk = chunks[first + k];
                    let mut script = String::from(FUNCTION);
                    for (a, b) in chunk {
                        script.push_str(&format!("c {} {}\n", quote(a), quote(b)));
                    }
                    let mut child = Command::new("sh")
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .spawn()
                        .unwrap_or_else(|e| panic!("running sh: {e}"));
                    if let Some(mut stdin) = child.stdin.take() {
                        stdin.write_all(script.as_bytes()).unwrap_or_else(|e| panic!("writing the dpkg script: {e}"));
                    }
                    let out = child.wait_with_output().unwrap_or_else(|e| panic!("waiting for sh: {e}"));
                    assert!(out.status.success(), "the dpkg script failed: {}", out.status);
                    *slot = String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .map(|l| match l {
                            "lt" => Some(Ordering::Less),
                            "eq" => Some(Ordering::Equal),
                            "gt" => Some(Ordering::Greater),
                            "err" => None,
                            other => panic!("unexpected line from the dpkg script: {other:?}"),
                        })
                        .collect();
                    assert_eq!(slot.len(), chunk.len(), "dpkg answered {} of {} pairs", slot.len(), chunk.len());
                }
            });
        }
    });
    answers.into_iter().flatten().collect()
}

fn require_dpkg() {
    let ok = Command::new("dpkg").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(ok, "`dpkg` is needed: this test compares tug's order with `dpkg --compare-versions` (it is on every Debian and Ubuntu; elsewhere install the dpkg package)");
}

/// Agreement on every pair, printing the first disagreements.
fn assert_agrees(pairs: &[(String, String)], dpkg: &[Option<Ordering>]) {
    let wrong: Vec<String> = pairs
        .iter()
        .zip(dpkg)
        .filter_map(|((a, b), want)| {
            let got = compare(Scheme::Dpkg, a, b);
            (got != *want).then(|| format!("  {a:?} vs {b:?}: dpkg {want:?}, tug {got:?}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "tug disagrees with dpkg on {} of {} pairs; the first:\n{}",
        wrong.len(),
        pairs.len(),
        wrong.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn agrees_with_dpkg_on_real_version_pairs() {
    require_dpkg();
    let found = read_lists();
    let pairs: Vec<(String, String)> = build_pairs(&found).into_iter().collect();
    let start = Instant::now();
    let dpkg = ask_dpkg(&pairs);
    let count = |o: Option<Ordering>| dpkg.iter().filter(|d| **d == o).count();
    eprintln!(
        "{} pairs from {} package entries ({} distinct versions): dpkg lt {}, eq {}, gt {}, rejected {} ({:.1} s)",
        pairs.len(),
        found.len(),
        distinct(&found),
        count(Some(Ordering::Less)),
        count(Some(Ordering::Equal)),
        count(Some(Ordering::Greater)),
        count(None),
        start.elapsed().as_secs_f64()
    );
    assert!(pairs.len() >= 4000, "only {} pairs built", pairs.len());
    assert!(count(Some(Ordering::Less)) > 1000 && count(Some(Ordering::Greater)) > 1000, "one-sided pairs");
    assert!(count(Some(Ordering::Equal)) > 100, "too few equal pairs");
    assert_agrees(&pairs, &dpkg);
}

/// Edge cases of dpkg's parser and order, and its exit codes: what dpkg rejects (exit 2) tug
/// refuses, what dpkg only warns about tug orders as dpkg does.
#[test]
fn agrees_with_dpkg_on_edge_cases() {
    require_dpkg();
    let versions = [
        "1.0",
        "1.0-0",
        "1.0-00",
        "0:1.0",
        "00:1.0",
        "+1:1.0",
        "1:1.0",
        "2147483647:1",
        "2147483648:1",
        "1.0~",
        "1.0~~",
        "1.0~rc1",
        "1.0a",
        "1.0+",
        "1.0.",
        "1.0-~",
        "1.0-0.0",
        "1.0-1-2",
        "1:2:3",
        "1.002",
        "1.2",
        "1.10",
        "1.9",
        "a1.0",
        "1_0",
        "1.0-a_b",
        "1.\u{e9}",
        "1.z",
        "1.+",
        " 1.0",
        "1.0\t",
        "1 0",
        ":1",
        "a:1",
        "1a:1",
        "1:",
        "1.0-",
        "1:-1",
        "",
        "1.0-a-b",
        "9999999999999999999999.1",
        "10000000000000000000000.0",
        "1.0+b1",
        "1.0~b1",
        "1.0-1ubuntu1",
        "1.0-1+deb12u1",
        "1.0-1~bpo12+1",
    ];
    let mut pairs = Vec::new();
    for a in versions {
        for b in ["1.0", "1.0-0", "1.0~", "1:1.0", "1.2", "1.0a", "1.0-1"] {
            // dpkg reads an empty argument as "no version" (below everything); tug has no such
            // version, so the empty string is checked in the unit tests instead.
            if !a.is_empty() {
                pairs.push((a.to_string(), b.to_string()));
            }
        }
    }
    let dpkg = ask_dpkg(&pairs);
    assert!(dpkg.contains(&None) && dpkg.contains(&Some(Ordering::Equal)), "the edge cases lost their point");
    assert_agrees(&pairs, &dpkg);
}
