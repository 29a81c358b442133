//! Where videos live. A folder of videos is either a named root (`barn1=/mnt/nas/barn1`: shared
//! storage that machines may mount in different places) or a plain path. The database names a
//! video by its [`Location`]: the root's name and the path under it, the same on every machine
//! that maps the root, whatever its mount point; a video outside every named root is named by
//! its path as it is (root `""`), which only means the same file on machines that see the same
//! paths.

use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

/// One folder of videos: `NAME=PATH` or a plain `PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Set for a named root: letters, digits, `-` and `_`, at most 64.
    pub name: Option<String>,
    pub path: PathBuf,
}

impl Root {
    /// A plain folder.
    pub fn plain(path: impl Into<PathBuf>) -> Self {
        Self {
            name: None,
            path: path.into(),
        }
    }
}

fn is_root_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl FromStr for Root {
    type Err = String;

    /// `NAME=PATH` when what comes before the first `=` is a root name, else the whole text is
    /// a path (so `./a=b` stays a path).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((name, path)) if is_root_name(name) => {
                if path.is_empty() {
                    return Err(format!("root {name}: no folder after '='"));
                }
                Ok(Self {
                    name: Some(name.to_owned()),
                    path: path.into(),
                })
            }
            _ if s.is_empty() => Err("an empty folder name".into()),
            _ => Ok(Self::plain(s)),
        }
    }
}

impl std::fmt::Display for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name}={}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// A video's name in the database: a named root and the `/`-separated path under it, or root
/// `""` and the path as this machine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Location {
    pub root: String,
    pub path: String,
}

impl Location {
    /// A file named by its path as it is, made absolute (without resolving links), so
    /// processes started in different folders name it alike.
    pub fn plain(path: &Path) -> Self {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        Self {
            root: String::new(),
            path: path.to_string_lossy().into_owned(),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.root.is_empty() {
            write!(f, "{}", self.path)
        } else {
            write!(f, "{}:{}", self.root, self.path)
        }
    }
}

/// The folders one process maps: turns its files into [`Location`]s and back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roots {
    roots: Vec<Root>,
}

impl Roots {
    /// Checks that no name is given twice.
    pub fn new(roots: Vec<Root>) -> Result<Self, String> {
        for (i, root) in roots.iter().enumerate() {
            if let Some(name) = &root.name
                && roots[..i].iter().any(|r| r.name.as_ref() == Some(name))
            {
                return Err(format!("root {name} is given twice"));
            }
        }
        Ok(Self { roots })
    }

    pub fn folders(&self) -> &[Root] {
        &self.roots
    }

    /// The location of `file`: under the named root that holds it (the deepest, when roots
    /// nest), else its path as it is.
    pub fn locate(&self, file: &Path) -> Location {
        self.roots
            .iter()
            .filter_map(|r| {
                let name = r.name.as_ref()?;
                let rest = file.strip_prefix(&r.path).ok()?;
                let parts: Option<Vec<&str>> = rest
                    .components()
                    .map(|c| match c {
                        Component::Normal(p) => p.to_str(),
                        _ => None,
                    })
                    .collect();
                let parts = parts.filter(|p| !p.is_empty())?;
                Some((r.path.components().count(), name, parts.join("/")))
            })
            .max_by_key(|(depth, _, _)| *depth)
            .map_or_else(
                || Location::plain(file),
                |(_, name, path)| Location {
                    root: name.clone(),
                    path,
                },
            )
    }

    /// This machine's path of `location`; `None` for a root it does not map, or a path that
    /// would leave its root.
    pub fn resolve(&self, location: &Location) -> Option<PathBuf> {
        if location.root.is_empty() {
            return Some(PathBuf::from(&location.path));
        }
        let root = self
            .roots
            .iter()
            .find(|r| r.name.as_deref() == Some(location.root.as_str()))?;
        let rest = Path::new(&location.path);
        let plain = rest.components().all(|c| matches!(c, Component::Normal(_)));
        (plain && !location.path.is_empty()).then(|| root.path.join(rest))
    }

    /// The roots whose jobs this process can take: its named roots, and `""` (paths as they
    /// are) when it has a plain folder or none at all.
    pub fn claimable(&self) -> Vec<String> {
        let mut names: Vec<String> = self.roots.iter().filter_map(|r| r.name.clone()).collect();
        if self.roots.iter().any(|r| r.name.is_none()) || self.roots.is_empty() {
            names.push(String::new());
        }
        names
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn roots_parse_named_and_plain() {
        let named: Root = "barn1=/mnt/nas/barn1".parse().unwrap();
        assert_eq!(named.name.as_deref(), Some("barn1"));
        assert_eq!(named.path, Path::new("/mnt/nas/barn1"));
        let plain: Root = "./a=b".parse().unwrap();
        assert_eq!((plain.name, plain.path), (None, PathBuf::from("./a=b")));
        assert!("barn1=".parse::<Root>().unwrap_err().contains("no folder"));
        assert!("".parse::<Root>().is_err());
        let dup = Roots::new(vec!["a=/x".parse().unwrap(), "a=/y".parse().unwrap()]);
        assert!(dup.unwrap_err().contains("twice"));
    }

    #[test]
    fn a_file_has_one_location_wherever_its_root_is_mounted() {
        let here = Roots::new(vec![
            "barn1=/mnt/nas/barn1".parse().unwrap(),
            "/srv/local".parse().unwrap(),
        ])
        .unwrap();
        let there = Roots::new(vec!["barn1=/media/b1".parse().unwrap()]).unwrap();
        let loc = here.locate(Path::new("/mnt/nas/barn1/pen 3/a.mp4"));
        assert_eq!(
            loc,
            Location {
                root: "barn1".into(),
                path: "pen 3/a.mp4".into()
            }
        );
        assert_eq!(loc.to_string(), "barn1:pen 3/a.mp4");
        assert_eq!(there.resolve(&loc).unwrap(), Path::new("/media/b1/pen 3/a.mp4"));
        // Outside every named root: the path as it is.
        let plain = here.locate(Path::new("/srv/local/b.mp4"));
        assert_eq!(plain, Location::plain(Path::new("/srv/local/b.mp4")));
        assert_eq!(here.resolve(&plain).unwrap(), Path::new("/srv/local/b.mp4"));
        // A root this process does not map, and a path that would leave the root.
        assert_eq!(
            there.resolve(&Location {
                root: "barn2".into(),
                path: "a.mp4".into()
            }),
            None
        );
        assert_eq!(
            there.resolve(&Location {
                root: "barn1".into(),
                path: "../etc/passwd".into()
            }),
            None
        );
        assert_eq!(here.claimable(), vec!["barn1".to_owned(), String::new()]);
        assert_eq!(there.claimable(), vec!["barn1".to_owned()]);
    }

    #[test]
    fn the_deepest_named_root_holds_a_file() {
        let roots = Roots::new(vec![
            "nas=/mnt/nas".parse().unwrap(),
            "b1=/mnt/nas/b1".parse().unwrap(),
        ])
        .unwrap();
        let loc = roots.locate(Path::new("/mnt/nas/b1/x.mp4"));
        assert_eq!((loc.root.as_str(), loc.path.as_str()), ("b1", "x.mp4"));
    }
}
