//! Who the container's process is: groups, uid/gid, and its five capability sets.
//!
//! Order follows runc's `finalizeNamespace`: shrink the bounding set while CAP_SETPCAP is
//! still held, keep capabilities across the uid switch (PR_SET_KEEPCAPS), switch groups, gid,
//! uid, then set inheritable → effective → permitted (each step keeps effective ⊆ permitted),
//! then raise ambient capabilities.

use caps::{CapSet, Capability, CapsHashSet};
use nix::sys::prctl;
use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};
use oci_spec::runtime::{LinuxCapabilities, User};

use super::error::{InitError, Step};

/// Capability names → set, ignoring names this kernel or the caps crate does not know (as
/// runc does, so a spec written for a newer kernel still runs).
fn to_set(names: Option<&oci_spec::runtime::Capabilities>, supported: &CapsHashSet) -> CapsHashSet {
    names
        .map(|set| {
            set.iter()
                .filter_map(|c| format!("CAP_{c}").parse::<Capability>().ok())
                .filter(|c| supported.contains(c))
                .collect()
        })
        .unwrap_or_default()
}

fn caps_err(what: &str) -> impl FnOnce(caps::errors::CapsError) -> InitError + '_ {
    move |e| InitError::msg(what.to_owned(), e.to_string())
}

/// Applies user and capabilities. Called in init (and exec'd processes) as root, after every
/// privileged setup step.
pub(crate) fn apply(
    user: &User,
    capabilities: Option<&LinuxCapabilities>,
) -> Result<(), InitError> {
    let supported = caps::runtime::thread_all_supported();
    if let Some(c) = capabilities {
        let bounding = to_set(c.bounding().as_ref(), &supported);
        for cap in supported.difference(&bounding) {
            caps::drop(None, CapSet::Bounding, *cap)
                .map_err(caps_err("dropping bounding capabilities"))?;
        }
    }
    prctl::set_keepcaps(true).step(|| "setting PR_SET_KEEPCAPS".into())?;
    switch_user(user)?;
    prctl::set_keepcaps(false).step(|| "clearing PR_SET_KEEPCAPS".into())?;
    let Some(c) = capabilities else {
        return Ok(());
    };
    let set = |which: CapSet, caps: &CapsHashSet, what: &str| {
        caps::set(None, which, caps).map_err(caps_err(what))
    };
    set(
        CapSet::Inheritable,
        &to_set(c.inheritable().as_ref(), &supported),
        "setting inheritable capabilities",
    )?;
    set(
        CapSet::Effective,
        &to_set(c.effective().as_ref(), &supported),
        "setting effective capabilities",
    )?;
    set(
        CapSet::Permitted,
        &to_set(c.permitted().as_ref(), &supported),
        "setting permitted capabilities",
    )?;
    // As runc: an ambient capability that cannot be raised (it must be both permitted and
    // inheritable) is skipped, not fatal; specs often list ambient caps without inheritable.
    for cap in to_set(c.ambient().as_ref(), &supported) {
        if let Err(e) = caps::raise(None, CapSet::Ambient, cap) {
            tracing::debug!(capability = %cap, error = %e, "ambient capability not raised");
        }
    }
    Ok(())
}

fn switch_user(user: &User) -> Result<(), InitError> {
    let gid = Gid::from_raw(user.gid());
    let uid = Uid::from_raw(user.uid());
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // setgroups is refused in a user namespace whose setgroups file says "deny"; only an
    // explicit request for supplementary groups makes that an error.
    match setgroups(&groups) {
        Err(nix::errno::Errno::EPERM) if groups.is_empty() => {}
        other => other.step(|| format!("setting supplementary groups {groups:?}"))?,
    }
    setresgid(gid, gid, gid).step(|| format!("setting gid {gid}"))?;
    setresuid(uid, uid, uid).step(|| format!("setting uid {uid}"))
}
