//! Where the tests find ONNX Runtime and the fixture models (made by `scripts/fixtures.sh`).

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `ORT_DYLIB_PATH`, else the library `scripts/fetch-ort.sh` puts in `.ort/lib`.
pub fn ort_lib() -> PathBuf {
    let lib = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(pigweight_inference::ORT_LIBRARY));
    assert!(
        lib.exists(),
        "{} is missing: run `make setup` (scripts/fetch-ort.sh)",
        lib.display()
    );
    lib
}

pub fn fixture(name: &str) -> PathBuf {
    let path = workspace().join("target/fixtures").join(name);
    assert!(
        path.exists() || name.starts_with("missing"),
        "{} is missing: run scripts/fixtures.sh (make test does)",
        path.display()
    );
    path
}

/// A solid-colour RGB image.
pub fn solid(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    rgb.repeat((width * height) as usize)
}
