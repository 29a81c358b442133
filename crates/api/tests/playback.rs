//! Playback reports in-process: counted per video and in total, shown in the stats and metrics,
//! and refused with the right status when they are not reports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::Method;
use common::{TestApp, pen};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn player_reports_add_up_in_the_stats_and_bad_ones_are_refused() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    let id = TestApp::id("pen.mp4");
    let url = format!("/api/videos/{id}/playback");
    let post = |body: &'static str| app.call(Method::POST, &url, "application/json", body);
    let first = r#"{"session":"s-1","path":"hls","first_frame_ms":800}"#;
    assert_eq!(post(first).await.status, 204);
    let later = r#"{"session":"s-1","path":"hls","stalls":2,"stall_ms":1200.5,"switches":1}"#;
    assert_eq!(post(later).await.status, 204);
    assert_eq!(
        post(r#"{"session":"s-2","path":"file","first_frame_ms":400}"#)
            .await
            .status,
        204
    );

    let stats = app.get("/api/stats").await.json();
    let playback = &stats["playback"];
    let total = &playback["total"];
    assert_eq!(total["sessions"], 2, "{playback}");
    assert_eq!(total["hls_sessions"], 1);
    assert_eq!(total["mean_first_frame_ms"], 600.0);
    assert_eq!(total["max_first_frame_ms"], 800.0);
    assert_eq!(
        (total["stalls"].as_u64(), total["stall_ms"].as_f64()),
        (Some(2), Some(1200.5))
    );
    assert_eq!(total["switches"], 1);
    assert_eq!(total["viewers"], 2);
    assert_eq!(playback["videos"][0]["id"], id.as_str());
    assert_eq!(playback["videos"][0]["sessions"], 2);
    let metrics = String::from_utf8(app.get("/metrics").await.body.to_vec()).unwrap();
    for line in [
        "pigweight_playback_sessions_total 2",
        "pigweight_playback_stalls_total 2",
        "pigweight_playback_switches_total 1",
        "pigweight_playback_viewers 2",
    ] {
        assert!(metrics.contains(line), "{line}: {metrics}");
    }

    // Not reports: each gets its status and our JSON error, and counts nothing.
    for (body, status) in [
        (r#"{"session":"","path":"hls"}"#, 422),
        (r#"{"session":"a b","path":"hls"}"#, 422),
        (r#"{"session":"s","path":"hls","stall_ms":-1}"#, 422),
        (r#"{"session":"s","path":"hls","first_frame_ms":1e12}"#, 422),
        (r#"{"session":"s","path":"hls","stalls":99999999}"#, 422),
        (r#"{"session":"s","path":"dash"}"#, 422),
        (r#"{"session":"s","path":"hls","extra":1}"#, 422),
        ("not json", 400),
    ] {
        let reply = post(body).await;
        assert!(!reply.error(status).is_empty(), "{body}");
    }
    let text = app.call(Method::POST, &url, "text/plain", "{}").await;
    assert!(!text.error(415).is_empty());
    let unknown = app
        .call(
            Method::POST,
            "/api/videos/0000000000000000/playback",
            "application/json",
            r#"{"session":"s","path":"hls"}"#,
        )
        .await;
    assert!(unknown.error(404).contains("no video"));
    assert_eq!(
        app.get("/api/stats").await.json()["playback"]["total"]["sessions"],
        2
    );
}
