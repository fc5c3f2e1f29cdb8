//! `tug-testserver`: see the library docs for the flags.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tug_testserver::{health_command, parse_args, Command, Config, Server, USAGE};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args, &|name| std::env::var(name).ok()) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("tug-testserver: {e}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Health { url } => exit_code(health_command(&url)),
        Command::Serve(config) => serve(config),
    }
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1))
}

fn serve(config: Config) -> ExitCode {
    if let Some(text) = &config.print {
        println!("{text}");
    }
    if let Some(text) = &config.print_stderr {
        eprintln!("{text}");
    }
    if let Some(n) = config.print_bytes {
        println!("{}", tug_testserver::pattern_line(usize::try_from(n).unwrap_or(usize::MAX)));
    }
    if let Some(code) = config.exit_immediately() {
        println!("exiting with code {code}");
        return exit_code(code);
    }
    // As PID 1 the kernel drops signals that have no handler: without this, `docker stop` waits for SIGKILL.
    let mut signals = match Signals::new([SIGTERM, SIGINT]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("tug-testserver: installing signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let ignore_sigterm = config.ignore_sigterm;
    thread::spawn(move || {
        for signal in signals.forever() {
            let name = if signal == SIGTERM { "SIGTERM" } else { "SIGINT" };
            if signal == SIGTERM && ignore_sigterm {
                println!("ignoring {name}");
                continue;
            }
            println!("{name}: exiting");
            std::process::exit(0);
        }
    });
    if let Some(ms) = config.exit_after_ms {
        let code = config.exit_code.unwrap_or(0);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(ms));
            println!("exiting with code {code} after {ms} ms");
            std::process::exit(code);
        });
    }
    let listen = config.listen;
    let server = match Server::bind(config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("tug-testserver: listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    match server.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(_) => println!("listening on {listen}"),
    }
    let e = server.serve();
    eprintln!("tug-testserver: accept: {e}");
    ExitCode::from(1)
}
