//! Who may call admin methods: root, the daemon's own user, and members of
//! the admin group, judged from the peer's credentials (SO_PEERCRED) and
//! the kernel's record of its groups; and who a caller is ([`Caller`]),
//! on the socket or over HTTP, and whether it may call a method.

use crate::protocol::{Method, Scope};

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

/// Who sent a request, as the method handlers judge it.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A peer on the Unix socket: its SO_PEERCRED (uid, gid, pid), when the
    /// kernel gave them.
    Socket(Option<(u32, u32, Option<i32>)>),
    /// An HTTP request: the token it presented (by its name in the config;
    /// None for a loopback request without one), the scopes that gives it,
    /// and the peer's address.
    Http {
        token: Option<String>,
        scopes: Vec<Scope>,
        address: std::net::SocketAddr,
    },
}

impl Caller {
    /// Whether the caller may call methods of `scope`.
    pub fn may(&self, scope: Scope, admin: &Admin) -> bool {
        match self {
            Caller::Socket(peer) => {
                scope != Scope::Admin
                    || peer.is_some_and(|(uid, gid, pid)| admin.allows(uid, gid, pid))
            }
            Caller::Http { scopes, .. } => scopes.contains(&scope),
        }
    }

    /// The caller's uid, for the records of who did what: a socket peer's;
    /// none over HTTP (whose token the log names).
    pub fn uid(&self) -> Option<u32> {
        match self {
            Caller::Socket(peer) => peer.map(|(uid, ..)| uid),
            Caller::Http { .. } => None,
        }
    }

    /// The name of the HTTP token the caller presented, if any.
    pub fn token(&self) -> Option<&str> {
        match self {
            Caller::Http { token, .. } => token.as_deref(),
            Caller::Socket(_) => None,
        }
    }

    /// Why the caller may not call `method`, in words for the reply.
    pub fn refusal(&self, method: Method) -> String {
        let name = method.name();
        match self {
            Caller::Socket(peer) => {
                let who = peer.map_or("an unknown peer".to_string(), |(uid, ..)| {
                    format!("uid {uid}")
                });
                format!("'{name}' is an admin method: {who} is not root, recd's user or in the admin group")
            }
            Caller::Http { token, scopes, .. } => {
                let who = match token {
                    Some(t) => format!("token '{t}'"),
                    None => "a loopback request without a token".to_string(),
                };
                let has: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                format!(
                    "'{name}' needs the scope '{}': {who} has [{}]",
                    method.scope().as_str(),
                    has.join(", ")
                )
            }
        }
    }
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Socket(Some((uid, _, Some(pid)))) => write!(f, "uid {uid} (pid {pid})"),
            Caller::Socket(Some((uid, _, None))) => write!(f, "uid {uid}"),
            Caller::Socket(None) => f.write_str("an unknown socket peer"),
            Caller::Http {
                token: Some(t),
                address,
                ..
            } => write!(f, "token '{t}' from {address}"),
            Caller::Http { address, .. } => write!(f, "{address} (no token)"),
        }
    }
}
