//! The one error type of the crate: every variant names the file and, where one is
//! involved, the tree and the branch.

use std::fmt;

/// What went wrong while opening or reading a ROOT file.
#[derive(Debug, thiserror::Error)]
pub enum NtupleError {
    /// The operating system refused a read.
    #[error("{file}: I/O error: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Not a ROOT file at all (wrong magic bytes).
    #[error("{file}: not a ROOT file ({detail})")]
    NotRoot { file: String, detail: String },
    /// A structure of the file (header, key, directory, streamer, tree metadata,
    /// basket) is inconsistent or cut short.
    #[error("{}: corrupt {what}: {detail}", Where(file, tree, branch))]
    Corrupt {
        file: String,
        tree: Option<String>,
        branch: Option<String>,
        what: String,
        detail: String,
    },
    /// A compressed block could not be decompressed.
    #[error("{}: bad compressed data {what}: {detail}", Where(file, tree, branch))]
    Compression {
        file: String,
        tree: Option<String>,
        branch: Option<String>,
        what: String,
        detail: String,
    },
    /// The file holds something this reader deliberately does not decode.
    #[error("{}: unsupported {what}", Where(file, tree, branch))]
    Unsupported {
        file: String,
        tree: Option<String>,
        branch: Option<String>,
        what: String,
    },
    /// No tree of that name; lists the trees the file has.
    #[error(
        "{file}: no tree named {name:?}; the file has {}",
        list_or_none(available)
    )]
    MissingTree {
        file: String,
        name: String,
        available: Vec<String>,
    },
    /// No branch of that name; lists the nearest names.
    #[error(
        "{file}: tree {tree:?} has no branch named {name:?}; nearest: {}",
        list_or_none(near)
    )]
    MissingBranch {
        file: String,
        tree: String,
        name: String,
        near: Vec<String>,
    },
    /// An entry range outside the tree.
    #[error("{file}: tree {tree:?}: entry range {start}..{stop} is outside 0..{entries}")]
    BadRange {
        file: String,
        tree: String,
        start: u64,
        stop: u64,
        entries: u64,
    },
}

struct Where<'a>(&'a String, &'a Option<String>, &'a Option<String>);

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        if let Some(t) = self.1 {
            write!(f, ": tree {t:?}")?;
        }
        if let Some(b) = self.2 {
            write!(f, ": branch {b:?}")?;
        }
        Ok(())
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl NtupleError {
    /// Adds the tree and branch to an error that does not name them yet.
    pub(crate) fn in_branch(mut self, tree_name: &str, branch_name: &str) -> Self {
        match &mut self {
            NtupleError::Corrupt { tree, branch, .. }
            | NtupleError::Compression { tree, branch, .. }
            | NtupleError::Unsupported { tree, branch, .. } => {
                if tree.is_none() {
                    *tree = Some(tree_name.to_string());
                }
                if branch.is_none() {
                    *branch = Some(branch_name.to_string());
                }
            }
            _ => {}
        }
        self
    }

    /// Adds the tree to an error that does not name one yet.
    pub(crate) fn in_tree(mut self, tree_name: &str) -> Self {
        if let NtupleError::Corrupt { tree, .. }
        | NtupleError::Compression { tree, .. }
        | NtupleError::Unsupported { tree, .. } = &mut self
        {
            tree.get_or_insert_with(|| tree_name.to_string());
        }
        self
    }
}

/// A low-level parse failure without file context; turned into [`NtupleError`]
/// by the caller that knows the file, tree and branch.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    Corrupt(String),
    Compression(String),
    Unsupported(String),
}

impl Fault {
    pub(crate) fn corrupt(msg: impl Into<String>) -> Self {
        Fault::Corrupt(msg.into())
    }
    pub(crate) fn unsupported(msg: impl Into<String>) -> Self {
        Fault::Unsupported(msg.into())
    }
    /// Attaches the file and a description of the structure being read.
    pub(crate) fn at(self, file: &str, what: impl Into<String>) -> NtupleError {
        let what = what.into();
        match self {
            Fault::Corrupt(detail) => NtupleError::Corrupt {
                file: file.to_string(),
                tree: None,
                branch: None,
                what,
                detail,
            },
            Fault::Compression(detail) => NtupleError::Compression {
                file: file.to_string(),
                tree: None,
                branch: None,
                what,
                detail,
            },
            Fault::Unsupported(detail) => NtupleError::Unsupported {
                file: file.to_string(),
                tree: None,
                branch: None,
                what: if what.is_empty() {
                    detail
                } else {
                    format!("{detail} (in {what})")
                },
            },
        }
    }
}

pub(crate) type PResult<T> = Result<T, Fault>;
