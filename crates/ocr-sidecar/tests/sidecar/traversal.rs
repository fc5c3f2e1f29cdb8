//! The path-traversal corpus (seed 001 T007): every case is a 403 with the same generic body, and
//! Ollama never hears of it. The targets outside the base are real, readable PDFs, so a hole would
//! show up as a 200.

use std::os::unix::fs::symlink;

use ocr_sidecar::testing::pdf::numbered_pdf;
use serde_json::json;

use crate::util::{error_code, require_poppler, Harness};

async fn harness_with_tree() -> Harness {
    let h = Harness::new().await;
    let pdf = numbered_pdf(1);
    h.write("doc.pdf", &pdf);
    h.write("sub/doc.pdf", &pdf);
    std::fs::create_dir_all(h.base.join("subdir")).unwrap();
    for dir in ["outside", "base-evil"] {
        std::fs::create_dir_all(h.root.join(dir)).unwrap();
    }
    std::fs::write(h.root.join("outside/secret.pdf"), &pdf).unwrap();
    std::fs::write(h.root.join("base-evil/doc.pdf"), &pdf).unwrap();
    symlink("../outside/secret.pdf", h.base.join("link-out")).unwrap();
    symlink("/etc/passwd", h.base.join("link-abs")).unwrap();
    symlink("../outside", h.base.join("link-dir")).unwrap();
    symlink("/", h.base.join("link-root")).unwrap();
    symlink("link-loop2", h.base.join("link-loop1")).unwrap();
    symlink("link-loop1", h.base.join("link-loop2")).unwrap();
    symlink("../base-evil/doc.pdf", h.base.join("link-sibling")).unwrap();
    symlink("sub/../../outside/secret.pdf", h.base.join("link-dotdot")).unwrap();
    symlink("doc.pdf", h.base.join("link-in")).unwrap();
    symlink("sub", h.base.join("link-subdir")).unwrap();
    let fifo = h.base.join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo failed");
    h
}

fn corpus(h: &Harness) -> Vec<(String, &'static str)> {
    let root = h.root.display().to_string();
    let base = h.base.display().to_string();
    let mut cases: Vec<(String, &'static str)> = vec![
        ("../outside/secret.pdf".into(), "parent directory"),
        ("../../etc/passwd".into(), "classic traversal"),
        ("../../../../../../../../etc/passwd".into(), "deep traversal"),
        ("..".into(), "bare parent"),
        ("../".into(), "bare parent with slash"),
        ("sub/../../outside/secret.pdf".into(), "traversal after a real directory"),
        ("./../outside/secret.pdf".into(), "dot then parent"),
        ("sub/./../../outside/secret.pdf".into(), "mixed dot segments"),
        ("doc.pdf/..".into(), "parent after a file"),
        ("~/../outside/secret.pdf".into(), "tilde then parent"),
        ("/etc/passwd".into(), "absolute system file"),
        ("/etc/shadow".into(), "absolute unreadable system file"),
        ("/proc/self/environ".into(), "process environment (holds the API key)"),
        ("/proc/self/cmdline".into(), "process command line"),
        ("/dev/null".into(), "device"),
        ("/".into(), "filesystem root"),
        ("//etc/passwd".into(), "double leading slash"),
        (format!("{root}/outside/secret.pdf"), "absolute path beside the base"),
        (format!("{root}/base-evil/doc.pdf"), "sibling directory sharing the base's prefix"),
        (format!("{base}/../outside/secret.pdf"), "absolute base then parent"),
        (format!("{base}/link-out"), "absolute path through a symlink out"),
        ("link-out".into(), "relative symlink to a file outside"),
        ("link-abs".into(), "absolute symlink to /etc/passwd"),
        ("link-dir/secret.pdf".into(), "symlinked directory outside"),
        ("link-root/etc/passwd".into(), "symlink to /"),
        ("link-loop1".into(), "symlink loop"),
        ("link-sibling".into(), "symlink into the prefix-sharing sibling"),
        ("link-dotdot".into(), "symlink whose target climbs out"),
        ("link-subdir".into(), "symlink to a directory inside"),
        ("%2e%2e%2foutside%2fsecret.pdf".into(), "percent-encoded traversal"),
        ("%2e%2e/outside/secret.pdf".into(), "percent-encoded dots"),
        ("..%2foutside%2fsecret.pdf".into(), "percent-encoded slashes"),
        ("%2E%2E%2Foutside%2Fsecret.pdf".into(), "upper-case percent encoding"),
        ("%252e%252e%252foutside%252fsecret.pdf".into(), "double-encoded traversal"),
        ("..%252foutside%252fsecret.pdf".into(), "double-encoded slash"),
        ("%2fetc%2fpasswd".into(), "percent-encoded absolute path"),
        ("..%c0%afoutside/secret.pdf".into(), "overlong UTF-8 slash"),
        ("%c0%ae%c0%ae/outside/secret.pdf".into(), "overlong UTF-8 dots"),
        ("doc.pdf\u{0}.png".into(), "NUL byte"),
        ("\u{0}".into(), "only a NUL byte"),
        ("..\\outside\\secret.pdf".into(), "Windows separators"),
        ("sub\\doc.pdf".into(), "Windows separator inside the base"),
        ("..\\..\\..\\etc\\passwd".into(), "deep Windows traversal"),
        ("C:\\Windows\\win.ini".into(), "Windows drive path"),
        ("C:/Windows/win.ini".into(), "Windows drive with forward slashes"),
        ("\\\\server\\share\\doc.pdf".into(), "UNC path"),
        (format!("{}doc.pdf", "a/".repeat(600)), "over-long path"),
        ("x".repeat(300), "over-long file name"),
        (".".into(), "the base itself"),
        ("subdir".into(), "a directory"),
        ("".into(), "empty path"),
        ("fifo".into(), "a FIFO"),
        ("doc.pdf\n../../etc/passwd".into(), "newline injection"),
        ("\t../outside/secret.pdf".into(), "tab prefix"),
        ("\u{ff0e}\u{ff0e}/outside/secret.pdf".into(), "full-width dots"),
        ("....//outside/secret.pdf".into(), "four dots"),
        ("file:///etc/passwd".into(), "file URL"),
        ("doc.pdf/".into(), "trailing slash on a file"),
        ("missing.pdf".into(), "a file that does not exist"),
    ];
    cases.sort_by(|a, b| a.1.cmp(b.1));
    cases
}

#[tokio::test]
async fn every_traversal_case_is_403_with_a_generic_message() {
    let h = harness_with_tree().await;
    let cases = corpus(&h);
    assert!(cases.len() >= 40, "the corpus must hold at least 40 cases, has {}", cases.len());
    let mut failures = Vec::new();
    for (path, name) in &cases {
        let (status, body) = h.post("/ocr", &json!({ "path": path })).await;
        if status != 403 {
            failures.push(format!("{name} ({path:?}): {status} {body}"));
            continue;
        }
        assert_eq!(error_code(&body), "forbidden", "{name}");
        assert_eq!(body["error"]["message"], "path not allowed", "{name}");
        let text = body.to_string();
        assert!(
            !text.contains("secret") && !text.contains("passwd") && !text.contains(&*h.root.to_string_lossy()),
            "{name} leaks: {text}"
        );
    }
    assert!(failures.is_empty(), "not refused:\n{}", failures.join("\n"));
    assert!(h.ollama.requests().is_empty(), "Ollama was called for a refused path");
}

#[tokio::test]
async fn paths_inside_the_base_are_accepted() {
    require_poppler();
    let h = harness_with_tree().await;
    let base = h.base.display().to_string();
    for path in [
        "doc.pdf".to_string(),
        "sub/doc.pdf".into(),
        "./doc.pdf".into(),
        format!("{base}/sub/doc.pdf"),
        "link-in".into(),
        "100% done.pdf".into(),
    ] {
        if path.starts_with("100%") {
            h.write(&path, &numbered_pdf(1));
        }
        let (status, body) = h.post("/ocr", &json!({ "path": path })).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["pages"].as_array().unwrap().len(), 1, "{path}");
    }
}

#[tokio::test]
async fn a_path_of_the_wrong_type_is_a_400_not_a_403() {
    let h = Harness::new().await;
    for body in [json!({"path": 7}), json!({"path": ["doc.pdf"]}), json!({}), json!({"path": "doc.pdf", "extra": 1})] {
        let (status, answer) = h.post("/ocr", &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(error_code(&answer), "invalid_request");
    }
}
