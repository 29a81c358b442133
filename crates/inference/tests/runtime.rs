//! A missing ONNX Runtime library is a clear start-up error that says how to fix it.
//!
//! Its own test binary: the runtime is loaded once per process.

use std::path::Path;

use pigweight_inference::{InferenceError, load_runtime};

#[test]
fn missing_library_says_how_to_fix_it() {
    let Err(err) = load_runtime(Path::new("/nonexistent/libonnxruntime.so.1.31.1")) else {
        panic!("a missing library must not load");
    };
    assert!(matches!(err, InferenceError::Runtime { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("does not exist"), "{text}");
    assert!(
        text.contains("make setup") && text.contains("ORT_DYLIB_PATH"),
        "{text}"
    );
}
