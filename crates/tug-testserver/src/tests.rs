use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::*;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn parse(list: &[&str], env: &[(&str, &str)]) -> Result<Command, String> {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    parse_args(&args(list), &|name| env.get(name).cloned())
}

fn serve_config(list: &[&str], env: &[(&str, &str)]) -> Config {
    match parse(list, env) {
        Ok(Command::Serve(config)) => config,
        other => panic!("expected Serve, got {other:?}"),
    }
}

#[test]
fn defaults() {
    let config = serve_config(&[], &[]);
    assert_eq!(config, Config::default());
    assert_eq!(config.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(config.version, "v1");
    assert_eq!(config.exit_immediately(), None);
}

#[test]
fn every_flag() {
    let config = serve_config(
        &[
            "--listen",
            "127.0.0.1:9000",
            "--version=v2",
            "--unhealthy",
            "--healthy-after",
            "3",
            "--slow",
            "250",
            "--exit-after",
            "1000",
            "--exit-code",
            "7",
            "--ignore-sigterm",
            "--fail-after",
            "4",
        ],
        &[],
    );
    assert_eq!(
        config,
        Config {
            listen: "127.0.0.1:9000".parse().unwrap(),
            version: "v2".into(),
            unhealthy: true,
            healthy_after: 3,
            slow_ms: 250,
            exit_after_ms: Some(1000),
            exit_code: Some(7),
            ignore_sigterm: true,
            fail_after: Some(4),
            print: None,
            print_stderr: None,
            print_bytes: None,
        }
    );
    // With --exit-after the code is for later, not for now.
    assert_eq!(config.exit_immediately(), None);
}

#[test]
fn exit_code_alone_exits_immediately() {
    assert_eq!(serve_config(&["--exit-code", "3"], &[]).exit_immediately(), Some(3));
    assert_eq!(serve_config(&[], &[("TESTSERVER_EXIT_CODE", "0")]).exit_immediately(), Some(0));
}

#[test]
fn environment_and_flag_precedence() {
    let env = [
        ("TESTSERVER_VERSION", "from-env"),
        ("TESTSERVER_LISTEN", "127.0.0.1:7000"),
        ("TESTSERVER_HEALTHY_AFTER", "2"),
        ("TESTSERVER_UNHEALTHY", "true"),
        ("TESTSERVER_IGNORE_SIGTERM", "1"),
        ("TESTSERVER_SLOW", "5"),
        ("TESTSERVER_EXIT_AFTER", "60000"),
    ];
    let config = serve_config(&[], &env);
    assert_eq!(config.version, "from-env");
    assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
    assert_eq!(config.healthy_after, 2);
    assert!(config.unhealthy);
    assert!(config.ignore_sigterm);
    assert_eq!(config.slow_ms, 5);
    assert_eq!(config.exit_after_ms, Some(60000));
    // A flag on the command line beats the environment, booleans included.
    let config = serve_config(&["--version", "from-flag", "--unhealthy=false"], &env);
    assert_eq!(config.version, "from-flag");
    assert!(!config.unhealthy);
    // An empty boolean variable reads as false (compose `TESTSERVER_UNHEALTHY: ""`).
    assert!(!serve_config(&[], &[("TESTSERVER_UNHEALTHY", "")]).unhealthy);
}

#[test]
fn bad_arguments_are_errors() {
    for (list, env, needle) in [
        (&["--nope"][..], &[][..], "unknown flag"),
        (&["--slow"][..], &[][..], "--slow needs a value"),
        (&["--slow", "fast"][..], &[][..], "--slow: expected a number"),
        (&["--listen", "localhost:80"][..], &[][..], "--listen: expected HOST:PORT"),
        (&["--exit-code", "x"][..], &[][..], "expected an exit code"),
        (&["stray"][..], &[][..], "unexpected argument"),
        (&["--unhealthy=maybe"][..], &[][..], "expected true or false"),
        (&[][..], &[("TESTSERVER_HEALTHY_AFTER", "soon")][..], "TESTSERVER_HEALTHY_AFTER: expected a number"),
        (&["health", "--bogus"][..], &[][..], "health: unexpected argument"),
        (&["health", "--url"][..], &[][..], "--url needs a value"),
    ] {
        match parse(list, env) {
            Err(e) => assert!(e.contains(needle), "{list:?}: {e:?} should contain {needle:?}"),
            Ok(command) => panic!("{list:?} parsed as {command:?}"),
        }
    }
}

#[test]
fn health_subcommand() {
    assert_eq!(parse(&["health"], &[]), Ok(Command::Health { url: DEFAULT_HEALTH_URL.into() }));
    assert_eq!(
        parse(&["health", "--url", "http://10.0.0.1:81/h"], &[]),
        Ok(Command::Health { url: "http://10.0.0.1:81/h".into() })
    );
    assert_eq!(parse(&["health", "--url=http://x/"], &[]), Ok(Command::Health { url: "http://x/".into() }));
    assert_eq!(parse(&["--help"], &[]), Ok(Command::Help));
}

#[test]
fn root_json_filters_and_escapes() {
    let vars = vec![
        ("PATH".to_string(), "/bin".to_string()),
        ("APP_B".to_string(), "two \"quoted\"\n".to_string()),
        ("APP_A".to_string(), "one\\".to_string()),
        ("XAPP_C".to_string(), "no".to_string()),
    ];
    assert_eq!(
        root_json("v\"1", "host", vars.into_iter()),
        "{\"version\": \"v\\\"1\", \"hostname\": \"host\", \"env\": {\"APP_A\": \"one\\\\\", \"APP_B\": \"two \\\"quoted\\\"\\n\"}}\n"
    );
    assert_eq!(root_json("v1", "", std::iter::empty()), "{\"version\": \"v1\", \"hostname\": \"\", \"env\": {}}\n");
}

fn start(list: &[&str]) -> SocketAddr {
    let mut config = serve_config(list, &[]);
    config.listen = "127.0.0.1:0".parse().unwrap();
    Server::bind(config).unwrap().spawn().unwrap()
}

/// A raw GET: (status line, body).
fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nAccept: */*\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

#[test]
fn serves_root_and_health() {
    let addr = start(&["--version", "v7"]);
    let (status, body) = get(addr, "/?x=1");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.starts_with("{\"version\": \"v7\", \"hostname\": "), "{body}");
    assert_eq!(get(addr, "/health"), ("HTTP/1.1 200 OK".to_string(), "ok".to_string()));
    assert_eq!(get(addr, "/nope").0, "HTTP/1.1 404 Not Found");
    let url = format!("http://{addr}/health");
    assert_eq!(get_status(&url), Ok(200));
    assert_eq!(health_command(&url), 0);
    // `localhost` works without a resolver.
    assert_eq!(health_command(&format!("http://localhost:{}/health", addr.port())), 0);
    assert_eq!(get_status(&format!("http://{addr}/missing")), Ok(404));
    assert_eq!(health_command(&format!("http://{addr}/missing")), 1);
}

#[test]
fn unhealthy_and_healthy_after() {
    let addr = start(&["--unhealthy"]);
    let url = format!("http://{addr}/health");
    for _ in 0..3 {
        assert_eq!(get_status(&url), Ok(503));
        assert_eq!(health_command(&url), 1);
    }
    let addr = start(&["--healthy-after", "2"]);
    let url = format!("http://{addr}/health");
    assert_eq!(get_status(&url), Ok(503));
    assert_eq!(health_command(&url), 1);
    assert_eq!(get_status(&url), Ok(200));
    assert_eq!(health_command(&url), 0);
    // `/` does not count as a health request.
    let addr = start(&["--healthy-after", "1"]);
    assert_eq!(get(addr, "/").0, "HTTP/1.1 200 OK");
    assert_eq!(get_status(&format!("http://{addr}/health")), Ok(503));
}

#[test]
fn health_command_fails_without_a_server() {
    // Bind then drop, so the port is (very likely) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    assert_eq!(health_command(&format!("http://127.0.0.1:{port}/health")), 1);
    assert!(get_status("https://127.0.0.1/health").unwrap_err().contains("only http://"));
}

#[test]
fn health_command_rejects_a_non_http_answer() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 256];
        let _ = stream.read(&mut buf).unwrap();
        stream.write_all(b"SSH-2.0-nope\r\n").unwrap();
    });
    let err = get_status(&format!("http://{addr}/health")).unwrap_err();
    assert!(err.contains("not an HTTP response"), "{err}");
    peer.join().unwrap();
}

#[test]
fn status_headers_and_fail_after() {
    let addr = start(&["--fail-after", "3"]);
    assert_eq!(get(addr, "/status/418").0, "HTTP/1.1 418 Status");
    assert_eq!(get(addr, "/status/abc").0, "HTTP/1.1 400 Bad Request");
    let (status, body) = get(addr, "/headers");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("\"host\": \"test\""), "{body}");
    // Every request after the first three, whatever the path.
    assert_eq!(get(addr, "/").0, "HTTP/1.1 500 Internal Server Error");
    assert_eq!(get(addr, "/health").0, "HTTP/1.1 500 Internal Server Error");
}

#[test]
fn sse_events_arrive_one_by_one() {
    use std::io::BufRead;
    let addr = start(&[]);
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET /sse?n=3&every=1 HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let mut lines = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        lines.push(std::mem::take(&mut line));
    }
    let text = lines.concat();
    assert!(text.contains("Content-Type: text/event-stream\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\ndata: 1\n\ndata: 2\n\ndata: 3\n\n"), "{text}");
}

#[test]
fn websocket_echo() {
    let addr = start(&[]);
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{head}");
    // A masked text frame "hey" comes back unmasked.
    let mask = [9u8, 8, 7, 6];
    let mut frame = vec![0x81, 0x83];
    frame.extend_from_slice(&mask);
    frame.extend(b"hey".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&frame).unwrap();
    let mut reply = [0u8; 5];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [0x81, 0x03, b'h', b'e', b'y']);
    // Without the upgrade headers: 400.
    assert_eq!(get(addr, "/ws").0, "HTTP/1.1 400 Bad Request");
}

#[test]
fn print_flags_are_read_from_flags_and_env() {
    let config =
        serve_config(&["--print", "hello world", "--print-bytes", "20000"], &[("TESTSERVER_PRINT_STDERR", "oops")]);
    assert_eq!(config.print.as_deref(), Some("hello world"));
    assert_eq!(config.print_stderr.as_deref(), Some("oops"));
    assert_eq!(config.print_bytes, Some(20000));
    assert_eq!(pattern_line(12), "0123456789AB");
}
