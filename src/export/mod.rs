//! `bts export`: the same manifest under an existing production supervisor (README:
//! Procfiles, editors, shells and production; From a laptop to a cluster). `systemd`
//! writes one `.service` per task and a `.target` that wants the tasks `bts up` would
//! start; `procfile` writes a Procfile that the Procfile loader reads back as the same
//! tasks with the same commands; `kubernetes` and `compose` write the stack for a
//! cluster (`cluster` holds what they share).
//!
//! What does not translate is said, in a comment of the generated file, rather than
//! dropped silently: health probes (systemd has none), a Procfile's lack of per-task env.

mod cluster;
pub mod compose;
pub mod kubernetes;
mod procfile;
mod systemd;

use std::path::Path;

use crate::cli::{ExportArgs, ExportFormat, GlobalArgs};
use crate::errors::{exit, AppError};
use crate::manifest;

pub use procfile::procfile;
use systemd::unit_prefix;
pub use systemd::{systemd, UnitFile};

pub fn run(global: &GlobalArgs, args: ExportArgs) -> Result<u8, AppError> {
    let mut m = manifest::load(global.file.as_deref())?;
    if let Some(image) = &args.image {
        for t in m.tasks.iter_mut().filter(|t| t.image.is_none()) {
            t.image = Some(image.clone());
        }
    }
    match args.format {
        ExportFormat::Procfile => {
            let text = procfile(&m);
            match &args.out {
                Some(path) => {
                    write_file(path, &text, 0o644)?;
                    Ok(exit::OK)
                }
                None => crate::completions::print_stdout(text.as_bytes()),
            }
        }
        ExportFormat::Kubernetes => {
            let opts = kubernetes::Options {
                namespace: args.namespace.clone(),
            };
            let export = kubernetes::kubernetes(&m, &opts)?;
            let Some(dir) = &args.out else {
                return crate::completions::print_stdout(export.text().as_bytes());
            };
            std::fs::create_dir_all(dir)
                .map_err(|e| AppError::io(format!("cannot create {}", dir.display()), e))?;
            for (name, text) in export.files() {
                write_file(&dir.join(&name), &text, 0o644)?;
                println!("wrote {}", dir.join(&name).display());
            }
            println!("apply: `kubectl apply -f {}`", dir.display());
            Ok(exit::OK)
        }
        ExportFormat::Compose => {
            let secrets_name = "bts.secrets.env";
            let export = compose::compose(&m, secrets_name)?;
            let Some(path) = &args.out else {
                if export.secrets.is_some() {
                    eprintln!("bts: the services read secret variables from {secrets_name}: `--out FILE` writes it beside the file");
                }
                return crate::completions::print_stdout(export.text.as_bytes());
            };
            write_file(path, &export.text, 0o644)?;
            println!("wrote {}", path.display());
            if let Some(secrets) = &export.secrets {
                let dest = path.with_file_name(secrets_name);
                if dest.exists() {
                    println!("kept {} (it may hold your values)", dest.display());
                } else {
                    write_file(&dest, secrets, 0o600)?;
                    println!(
                        "wrote {} (fill in the values; never commit it)",
                        dest.display()
                    );
                }
            }
            Ok(exit::OK)
        }
        ExportFormat::Systemd => {
            let Some(dir) = &args.out else {
                return Err(AppError::new("`bts export systemd` needs `--out DIR`")
                    .with_hint("e.g. `bts export systemd --out deploy/systemd`, then copy the files to /etc/systemd/system"));
            };
            let units = systemd(&m, args.user).map_err(AppError::new)?;
            std::fs::create_dir_all(dir)
                .map_err(|e| AppError::io(format!("cannot create {}", dir.display()), e))?;
            for u in &units {
                write_file(&dir.join(&u.file_name), &u.text, u.mode)?;
                println!("wrote {}", dir.join(&u.file_name).display());
            }
            let target = format!("{}.target", unit_prefix(&m.project));
            let (how, ctl) = if args.user {
                ("~/.config/systemd/user/", "systemctl --user")
            } else {
                ("/etc/systemd/system/", "sudo systemctl")
            };
            println!("install: copy them to {how}, then `{ctl} daemon-reload && {ctl} enable --now {target}`");
            Ok(exit::OK)
        }
    }
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), AppError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| AppError::io(format!("cannot write {}", path.display()), e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| AppError::io(format!("cannot write {}", path.display()), e))
}

#[cfg(test)]
mod cluster_tests;
