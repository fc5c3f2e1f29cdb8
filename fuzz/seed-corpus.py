#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ for the fuzz targets (docs/reliability.md, "Fuzzing").

Sources: the examples, the Compose v2 conformance cases (crates/tug/tests/compose-v2), the string literals
of the parsers' unit tests, and the third-party-shaped inputs in fuzz/handwritten/<target>/. Files are named
by the SHA-1 of their content, as libFuzzer names them, so seeding twice adds nothing. Existing corpus
files (found by fuzzing) are kept; run `cargo fuzz cmin` afterwards to minimize (bench/fuzz/run.sh does
with FUZZ_MERGE=1).
"""

import hashlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
HANDWRITTEN = ROOT / "fuzz" / "handwritten"
MAX_INPUT = 64 * 1024

# The unit tests whose string literals seed each target.
TEST_SOURCES = {
    "compose_yaml": ["crates/tugboat/src/stack/yaml.rs", "crates/tugboat/src/stack/compose.rs"],
    "interpolation": ["crates/tugboat/src/stack/interpolate.rs"],
    "envfile": ["crates/tugboat/src/stack/envfile.rs"],
    "tugboat_config": ["crates/tugboat/src/stack/config.rs", "crates/tugboat/src/stack/probes.rs"],
    "condition": ["crates/tugboat-watch/src/probe/condition.rs"],
    "cron": ["crates/tugboat-watch/src/watch/cron.rs"],
    "restic_lock": ["crates/tugboat-backup/src/lock.rs"],
    "upload_path": ["crates/ocr-sidecar/src/paths.rs"],
    "admin_request": [],
}

ENV_FILE_NAMES = re.compile(r"(^|/)(\.?env|dotenv|\.env\.template|[^/]*\.env)$")
LITERAL = re.compile(r'r(#*)"(.*?)"\1|"((?:[^"\\]|\\.)*)"', re.S)


def rust_unescape(text):
    """The value of a Rust (non-raw) string literal's body."""
    text = re.sub(r"\\\n\s*", "", text)
    simple = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}

    def one(m):
        e = m.group(1)
        if e[0] in simple:
            return simple[e[0]]
        if e[0] == "x":
            return chr(int(e[1:3], 16))
        return chr(int(e[2:-1], 16))  # u{…}

    return re.sub(r"\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)", one, text)


def test_literals(path):
    source = (ROOT / path).read_text()
    tests = source[source.find("#[cfg(test)]"):] if "#[cfg(test)]" in source else ""
    for m in LITERAL.finditer(tests):
        value = m.group(2) if m.group(2) is not None else rust_unescape(m.group(3))
        if len(value) >= 2:
            yield value.encode()


def files(*globs):
    for pattern in globs:
        for p in sorted(ROOT.glob(pattern)):
            if p.is_file() and p.stat().st_size <= MAX_INPUT:
                yield p


def seeds():
    compose = list(files("examples/**/*.yml", "examples/**/*.yaml", "crates/tug/tests/compose-v2/**/*.yaml",
                         "crates/tug/tests/compose-v2/**/*.yml"))
    configs = [p for p in compose if p.name.startswith("tugboat.")]
    compose = [p for p in compose if p not in configs]
    out = {t: [] for t in TEST_SOURCES}
    out["compose_yaml"] += [p.read_bytes() for p in compose]
    out["tugboat_config"] += [p.read_bytes() for p in configs]
    out["envfile"] += [p.read_bytes() for p in files("examples/**/*", "crates/tug/tests/compose-v2/**/*")
                       if ENV_FILE_NAMES.search(str(p.relative_to(ROOT)))]
    # Every compose line with a `$` is an interpolation input as Compose sees it.
    for p in compose:
        for line in p.read_text(errors="replace").splitlines():
            if "$" in line:
                out["interpolation"].append(line.strip().encode())
    # The checks' conditions and the schedules of the examples' tugboat.yml.
    for p in configs:
        text = p.read_text()
        out["condition"] += [c.encode() for c in re.findall(r'"(\[[A-Z_]+\][^"]*)"', text)]
        out["cron"] += [c.encode() for c in re.findall(r'cron: "([^"]+)"', text)]
    for target, sources in TEST_SOURCES.items():
        for source in sources:
            out[target] += list(test_literals(source))
        out[target] += [p.read_bytes() for p in files(f"fuzz/handwritten/{target}/*")]
    return out


def main():
    added = 0
    for target, inputs in seeds().items():
        directory = CORPUS / target
        directory.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            path = directory / hashlib.sha1(data).hexdigest()
            if not path.exists():
                path.write_bytes(data)
                added += 1
        print(f"{target}: {len(list(directory.iterdir()))} inputs")
    print(f"added {added}")


if __name__ == "__main__":
    main()
