//! Extreme numbers in every numeric parameter of every GET operation of the OpenAPI document,
//! in-process (see `common`): each answer is a 2xx or a declared 4xx with a JSON error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApp, pen};
use http_body_util::BodyExt as _;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_numbers_in_every_numeric_parameter_get_a_json_4xx_or_a_2xx() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    let id = TestApp::id("pen.mp4");
    let added = app
        .call(
            Method::POST,
            "/api/streams",
            "application/json",
            format!(r#"{{"video":"{id}"}}"#),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED);
    let stream_id = added.json()["id"].as_str().unwrap().to_owned();
    let doc: Value = app.get("/openapi.json").await.json();
    let extremes = [
        "0",
        "-1",
        "-0",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "1e-300",
        "-1e-300",
        "1e300",
        "-1e300",
        "2147483648",
        "-2147483649",
        "4294967296",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "1.5",
        "",
    ];
    let mut tried = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method != "get" {
                continue;
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let declared: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            let numeric: Vec<&Value> = params
                .iter()
                .filter(|p| matches!(p["schema"]["type"].as_str(), Some("integer" | "number")))
                .collect();
            // A valid value for every parameter, so each extreme is the only odd one out.
            let valid = |name: &str| -> String {
                match name {
                    "id" if path.contains("/streams/") => stream_id.clone(),
                    "id" => id.clone(),
                    "stream" => String::new(),
                    "t" => "1".into(),
                    "from" => "0".into(),
                    "to" => "2".into(),
                    "fps" => "5".into(),
                    _ => "1".into(),
                }
            };
            for target in &numeric {
                let target = target["name"].as_str().unwrap();
                for value in extremes {
                    let mut url = path.clone();
                    let mut query = Vec::new();
                    for p in &params {
                        let name = p["name"].as_str().unwrap();
                        let v = if name == target {
                            value.to_owned()
                        } else {
                            valid(name)
                        };
                        if p["in"] == "path" {
                            url = url.replace(&format!("{{{name}}}"), &v);
                        } else if name != "stream"
                            && (name == target || p["required"] == true || name == "id")
                        {
                            query.push(format!("{name}={v}"));
                        }
                    }
                    if !query.is_empty() {
                        url = format!("{url}?{}", query.join("&"));
                    }
                    let what = format!("GET {url}");
                    // Only the head: a 2xx may be an endless MJPEG stream.
                    let response = app.open(&url).await;
                    let status = response.status().as_u16();
                    assert!(
                        declared.contains(&&status.to_string()),
                        "{what}: {status} is not declared ({declared:?})"
                    );
                    assert!(status < 300 || (400..500).contains(&status), "{what}: {status}");
                    if status >= 400 {
                        let body = response.into_body().collect().await.unwrap().to_bytes();
                        let error: Value = serde_json::from_slice(&body)
                            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body:?}"));
                        assert!(
                            error["error"].as_str().is_some_and(|e| !e.is_empty()),
                            "{what}: {error}"
                        );
                    }
                    tried += 1;
                }
            }
        }
    }
    assert!(
        tried >= 14 * extremes.len(),
        "only {tried} requests: the document lost parameters?"
    );
    assert_eq!(
        app.get("/healthz").await.status,
        StatusCode::OK,
        "the server is still up"
    );
}
