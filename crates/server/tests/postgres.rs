//! The index in PostgreSQL (a throwaway PostgreSQL 15 server per test): `pigweight index` and
//! `serve` on `postgres://` give exactly what they give on SQLite, and a second server on the
//! same database shows the index at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Server, get, run, synth_video_sized, wait_for_secs};
use pigweight_indexer::testing::Postgres;

#[test]
fn an_index_in_postgres_equals_the_sqlite_one_and_a_second_run_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("pen.mp4");
    synth_video_sized(&clip, (640, 360), 12, 9801);
    let v = clip.to_str().unwrap();
    let sqlite = dir.path().join("index.db");
    let on_sqlite = run(&["index", v, "--db", sqlite.to_str().unwrap(), "--format", "json"]);
    let server = Postgres::start();
    let url = server.url();
    let on_postgres = run(&["index", v, "--database", &url, "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&on_sqlite).unwrap();
    assert!(rows.as_array().unwrap().len() > 10, "{rows}");
    assert_eq!(on_postgres, on_sqlite);
    // Again on the same database: the index is complete, read back as it was.
    assert_eq!(
        run(&["index", v, "--database", &url, "--format", "json"]),
        on_sqlite
    );
}

#[test]
fn a_second_server_on_the_same_postgres_shows_the_index_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    synth_video_sized(&videos.join("pen.mp4"), (640, 360), 12, 9802);
    let postgres = Postgres::start();
    let url = postgres.url();
    let args = ["--videos", videos.to_str().unwrap(), "--database", url.as_str()];
    let first = Server::start(&args);
    let list =
        |s: &Server| -> serde_json::Value { serde_json::from_str(&get(&s.url("/api/videos")).1).unwrap() };
    wait_for_secs("the index", 120, || list(&first)[0]["index"]["state"] == "done");
    let id = list(&first)[0]["id"].as_str().unwrap().to_owned();
    let counts = |s: &Server| get(&s.url(&format!("/api/videos/{id}/counts?points=200"))).1;
    let answer = counts(&first);
    drop(first);

    // Another process, its own data folder, the same database: done at once, the same counts.
    let second = Server::start(&args);
    // Done from what the database holds: never indexing again.
    wait_for_secs("the stored index", 10, || {
        let listed = list(&second);
        let state = &listed[0]["index"]["state"];
        assert!(
            state.is_null() || state == "queued" || state == "done",
            "{listed}"
        );
        state == "done"
    });
    assert_eq!(counts(&second), answer);
}
