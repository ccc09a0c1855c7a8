//! Who may call admin methods: root, the daemon's own user, and members of
//! the admin group, judged from the peer's credentials (SO_PEERCRED) and
//! the kernel's record of its groups.

/// Who may call admin methods: root, the daemon's own user, and members of
/// the admin group (resolved once at start).
#[derive(Debug, Clone)]
pub struct Admin {
    own_uid: u32,
    group: Option<(u32, Vec<String>)>,
}

impl Admin {
    pub fn resolve(group: Option<&str>) -> Admin {
        let group = group.and_then(|name| match nix::unistd::Group::from_name(name) {
            Ok(Some(g)) => Some((g.gid.as_raw(), g.mem)),
            Ok(None) => {
                tracing::info!("admin group '{name}' does not exist; admin methods are for root and recd's own user");
                None
            }
            Err(e) => {
                tracing::warn!("cannot look up admin group '{name}': {e}");
                None
            }
        });
        Admin {
            own_uid: nix::unistd::geteuid().as_raw(),
            group,
        }
    }

    /// Whether the peer (uid, gid, pid from SO_PEERCRED) may call admin methods.
    pub fn allows(&self, uid: u32, gid: u32, pid: Option<i32>) -> bool {
        if uid == 0 || uid == self.own_uid {
            return true;
        }
        let Some((admin_gid, members)) = &self.group else {
            return false;
        };
        if gid == *admin_gid {
            return true;
        }
        // The peer process's supplementary groups, as the kernel has them.
        if let Some(groups) =
            pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        {
            let listed = groups
                .lines()
                .find_map(|l| l.strip_prefix("Groups:"))
                .is_some_and(|g| g.split_whitespace().any(|g| g.parse() == Ok(*admin_gid)));
            if listed {
                return true;
            }
        }
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .is_some_and(|u| members.contains(&u.name))
    }
}
