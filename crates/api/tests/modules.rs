//! Dependencies inside each crate of the workspace run one way: no module uses one that uses
//! it back, directly or around a circle. Modules are the files and folders under `src/` (a
//! folder's files count as the folder's module); a use is any `crate::name` path in code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module name → the modules of the same crate it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under `src` belongs to (None for the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (!matches!(name.as_str(), "lib" | "main")).then_some(name)
}

/// The first path segments after `crate::` in `code`, comments left out.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let head = item.trim().split("::").next().unwrap_or("");
                    names.insert(head.to_owned());
                }
            } else {
                let head: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.insert(head);
            }
            rest = after;
        }
    }
    names
}

fn graph_of(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(src, f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let Some(module) = module_of(src, file) else {
            continue;
        };
        let code = std::fs::read_to_string(file).unwrap();
        let uses = graph.entry(module.clone()).or_default();
        for name in crate_paths(&code) {
            if modules.contains(&name) && name != module {
                uses.insert(name);
            }
        }
    }
    graph
}

/// A circle of modules, if there is one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        at: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == at) {
            let mut circle = path[start..].to_vec();
            circle.push(at.to_owned());
            return Some(circle);
        }
        if done.contains(at) {
            return None;
        }
        path.push(at.to_owned());
        for next in graph.get(at).into_iter().flatten() {
            if let Some(c) = visit(graph, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(at.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(graph, m, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_a_module_cycle() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        let graph = graph_of(&src);
        if let Some(circle) = cycle(&graph) {
            panic!(
                "{}: modules use each other in a circle: {}",
                src.display(),
                circle.join(" → ")
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 7,
        "only {checked} crates found under {}",
        crates.display()
    );
}

#[test]
fn the_check_finds_a_circle_and_reads_grouped_uses() {
    let paths =
        crate_paths("use crate::{state::App, error};\nlet x = crate::media::decode(); // crate::not_this");
    assert_eq!(paths, ["error", "media", "state"].map(String::from).into());
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    graph.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&graph), None);
}

/// The API crate's layers as ARCHITECTURE.md draws them: nothing below uses what is above
/// (within a layer, the cycle check above keeps uses one way).
#[test]
fn the_api_crate_runs_handlers_to_services_to_state() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph_of(&src);
    let layer = |m: &str| match m {
        "error" | "extract" | "linger" | "wire" | "library" | "peers" | "segments" | "viewing" => 0,
        "state" => 1,
        "auth" | "media" | "upload" => 2,
        _ => 3,
    };
    for (module, uses) in &graph {
        for used in uses {
            assert!(
                layer(used) <= layer(module),
                "{module} (layer {}) uses {used} (layer {})",
                layer(module),
                layer(used)
            );
        }
    }
}
