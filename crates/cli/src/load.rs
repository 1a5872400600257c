//! Loading the registry: the shipped profiles, then `--profiles DIR`, then any
//! agreement or policy argument that names a file instead of an id.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use gsomia_core::{Builder, Registry, Source};

/// An argument that names a shipped profile by id, or a profile file.
#[derive(Debug, Clone)]
pub enum ProfileArg {
    /// An id (`jp-kr-2016`, `JPN`).
    Id(String),
    /// A file to load.
    File(PathBuf),
}

impl ProfileArg {
    /// Reads an argument: a path if it looks like one or exists, else an id.
    pub fn parse(arg: &str) -> ProfileArg {
        let path = Path::new(arg);
        let looks_like_path =
            arg.ends_with(".toml") || arg.contains(std::path::MAIN_SEPARATOR) || arg.contains('/');
        if looks_like_path || path.is_file() {
            ProfileArg::File(path.to_path_buf())
        } else {
            ProfileArg::Id(arg.to_owned())
        }
    }
}

fn read(path: &Path) -> Result<Source> {
    let text = gsomia_node::files::read_text(path)
        .with_context(|| format!("cannot read profile `{}`", path.display()))?;
    Ok(Source {
        name: path.display().to_string(),
        text,
    })
}

fn toml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list `{}`", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// What was asked for on the command line, before anything is compiled.
#[derive(Default)]
pub struct Request {
    /// `--profiles DIR`.
    pub dir: Option<PathBuf>,
    /// Agreement arguments.
    pub agreements: Vec<ProfileArg>,
    /// Policy (party) arguments.
    pub policies: Vec<ProfileArg>,
}

/// The registry, and the ids the profile arguments resolved to (in order).
pub struct Loaded {
    /// The compiled registry.
    pub registry: Registry,
    /// One id per agreement argument.
    pub agreement_ids: Vec<String>,
    /// One party code per policy argument.
    pub party_ids: Vec<String>,
}

/// Builds the registry for a request; any profile error stops everything.
pub fn load(req: &Request) -> Result<Loaded> {
    let mut b: Builder = gsomia_core::shipped::builder();
    if let Some(dir) = &req.dir {
        if !dir.is_dir() {
            bail!("`--profiles {}` is not a directory", dir.display());
        }
        let topics = dir.join("topics.toml");
        if topics.is_file() {
            b.topics(read(&topics)?);
        }
        for f in toml_files(&dir.join("policies"))? {
            b.policy(read(&f)?);
        }
        for f in toml_files(&dir.join("agreements"))? {
            b.agreement(read(&f)?);
        }
    }
    let mut agreement_ids = Vec::new();
    for a in &req.agreements {
        agreement_ids.push(match a {
            ProfileArg::Id(id) => id.clone(),
            ProfileArg::File(f) => b
                .agreement(read(f)?)
                .map(|id| id.to_string())
                .unwrap_or_default(),
        });
    }
    let mut party_ids = Vec::new();
    for p in &req.policies {
        party_ids.push(match p {
            ProfileArg::Id(id) => id.clone(),
            ProfileArg::File(f) => b
                .policy(read(f)?)
                .map(|id| id.to_string())
                .unwrap_or_default(),
        });
    }
    let registry = b.build().map_err(|errors| {
        anyhow::anyhow!("{errors}").context(format!(
            "profiles not loaded ({} problem{})",
            errors.0.len(),
            if errors.0.len() == 1 { "" } else { "s" }
        ))
    })?;
    Ok(Loaded {
        registry,
        agreement_ids,
        party_ids,
    })
}

/// The registry from the shipped profiles and `--profiles DIR` alone.
pub fn registry(dir: Option<PathBuf>) -> Result<Registry> {
    Ok(load(&Request {
        dir,
        ..Request::default()
    })?
    .registry)
}
