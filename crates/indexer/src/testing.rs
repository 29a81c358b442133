//! A throwaway PostgreSQL server for tests: Debian's PostgreSQL 15 (`initdb`, `pg_ctl`), in a
//! temporary folder, on a free loopback port, stopped and removed when dropped. Never a system
//! service. `initdb` refuses root, so as root the server runs as the `postgres` user.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)] // test support fails the test on the spot

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running PostgreSQL server with one database, `pigweight`.
#[derive(Debug)]
pub struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

fn bin(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("PIGWEIGHT_PG_BIN") {
        return Path::new(&dir).join(name);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.path().join("bin").join(name)))
                .collect()
        })
        .unwrap_or_default();
    found.retain(|p| p.exists());
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("no {name} in /usr/lib/postgresql/*/bin: install postgresql-15 (make test does)")
    })
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

impl Postgres {
    /// Starts a fresh server and makes the `pigweight` database.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("pigweight-pg").tempdir().unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown to postgres failed");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Self {
            dir,
            port,
            as_postgres,
        };
        let data = server.data();
        server.run(
            &bin("initdb"),
            &[
                "-D",
                &data,
                "-U",
                "pigweight",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
        );
        server.pg_ctl("start");
        server.run(
            &bin("createdb"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "pigweight",
                "pigweight",
            ],
        );
        server
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn run(&self, program: &Path, args: &[&str]) {
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let out = command.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{} {args:?}: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, action: &str) {
        let log = self.dir.path().join("log").to_string_lossy().into_owned();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let data = self.data();
        let mut args = vec!["-D", data.as_str(), "-l", log.as_str(), "-w"];
        if action == "start" || action == "restart" {
            args.extend(["-o", options.as_str()]);
        }
        if action != "start" {
            args.extend(["-m", "fast"]);
        }
        args.push(action);
        self.run(&bin("pg_ctl"), &args);
    }

    /// Stops the server and starts it again on the same port and data (as an administrator
    /// restarting it would): open connections break.
    pub fn restart(&self) {
        self.pg_ctl("restart");
    }

    /// The server's URL for the `pigweight` database.
    pub fn url(&self) -> String {
        format!("postgres://pigweight@127.0.0.1:{}/pigweight", self.port)
    }

    /// A fresh, empty database on this server; returns its URL.
    pub fn fresh_database(&self, name: &str) -> String {
        self.run(
            &bin("createdb"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "pigweight",
                name,
            ],
        );
        format!("postgres://pigweight@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin("pg_ctl"));
            c
        } else {
            Command::new(bin("pg_ctl"))
        };
        let _ = command.args(args).output();
    }
}
