//! `--device`: host device nodes made available in the container.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use bollard_stubs::models::DeviceMapping;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use super::SpecError;
use super::resources::{device_mapping_parts, device_rule};

/// Major and minor numbers of a host device node.
pub fn major_minor(path: &str) -> Result<(i64, i64), SpecError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        SpecError::Invalid(format!(
            "error gathering device information while adding custom device {path:?}: {e}"
        ))
    })?;
    let rdev = meta.rdev();
    let major = i64::try_from(nix::sys::stat::major(rdev)).unwrap_or(0);
    let minor = i64::try_from(nix::sys::stat::minor(rdev)).unwrap_or(0);
    Ok((major, minor))
}

fn node(host: &Path, inside: &Path) -> Result<LinuxDevice, SpecError> {
    let meta = std::fs::metadata(host).map_err(|e| {
        SpecError::Invalid(format!(
            "error gathering device information while adding custom device {:?}: {e}",
            host.display().to_string()
        ))
    })?;
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return Err(SpecError::Invalid(format!(
            "{} is not a device node",
            host.display()
        )));
    };
    let (major, minor) = major_minor(&host.to_string_lossy())?;
    let mut d = LinuxDevice::default();
    d.set_path(inside.to_path_buf());
    d.set_typ(typ);
    d.set_major(major);
    d.set_minor(minor);
    d.set_file_mode(Some(meta.mode() & 0o777));
    d.set_uid(Some(meta.uid()));
    d.set_gid(Some(meta.gid()));
    Ok(d)
}

/// Device nodes and cgroup rules for `--device` mappings. A directory maps every device
/// under it, as Docker does.
pub fn from_mappings(
    maps: &[DeviceMapping],
) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), SpecError> {
    let mut nodes = Vec::new();
    let mut rules = Vec::new();
    for m in maps {
        let (host, inside, perms) = device_mapping_parts(m);
        let hp = Path::new(&host);
        let pairs: Vec<(std::path::PathBuf, std::path::PathBuf)> = if hp.is_dir() {
            std::fs::read_dir(hp)
                .map_err(|e| SpecError::Invalid(format!("reading {host}: {e}")))?
                .flatten()
                .map(|e| (e.path(), Path::new(&inside).join(e.file_name())))
                .collect()
        } else {
            vec![(hp.to_path_buf(), Path::new(&inside).to_path_buf())]
        };
        for (h, i) in pairs {
            let n = node(&h, &i)?;
            rules.push(device_rule(n.typ(), n.major(), n.minor(), &perms));
            nodes.push(n);
        }
    }
    Ok((nodes, rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_dev_null() {
        let m = DeviceMapping {
            path_on_host: Some("/dev/null".into()),
            path_in_container: Some("/dev/mynull".into()),
            cgroup_permissions: Some("rw".into()),
        };
        let (nodes, rules) = from_mappings(&[m]).unwrap();
        assert_eq!(nodes[0].path(), Path::new("/dev/mynull"));
        assert_eq!((nodes[0].major(), nodes[0].minor()), (1, 3));
        assert_eq!(rules[0].access().as_deref(), Some("rw"));
        let bad = DeviceMapping {
            path_on_host: Some("/etc/hostname".into()),
            ..Default::default()
        };
        assert!(from_mappings(&[bad]).is_err());
    }
}
