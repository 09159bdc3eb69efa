//! Named permissions that guard admin routes. A principal (API key now, staff users later) holds a
//! set of them; `*` grants all.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One thing a principal may do, written `area:action` (`products:write`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "products:read")]
    ProductsRead,
    #[serde(rename = "products:write")]
    ProductsWrite,
    #[serde(rename = "inventory:read")]
    InventoryRead,
    #[serde(rename = "inventory:write")]
    InventoryWrite,
    #[serde(rename = "settings:write")]
    SettingsWrite,
    #[serde(rename = "jobs:read")]
    JobsRead,
    #[serde(rename = "jobs:write")]
    JobsWrite,
    #[serde(rename = "webhooks:read")]
    WebhooksRead,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
}

impl Permission {
    pub const ALL: &'static [Permission] = &[
        Permission::ProductsRead,
        Permission::ProductsWrite,
        Permission::InventoryRead,
        Permission::InventoryWrite,
        Permission::SettingsWrite,
        Permission::JobsRead,
        Permission::JobsWrite,
        Permission::WebhooksRead,
        Permission::WebhooksWrite,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Permission::ProductsRead => "products:read",
            Permission::ProductsWrite => "products:write",
            Permission::InventoryRead => "inventory:read",
            Permission::InventoryWrite => "inventory:write",
            Permission::SettingsWrite => "settings:write",
            Permission::JobsRead => "jobs:read",
            Permission::JobsWrite => "jobs:write",
            Permission::WebhooksRead => "webhooks:read",
            Permission::WebhooksWrite => "webhooks:write",
        }
    }

    pub fn parse(raw: &str) -> Option<Permission> {
        Permission::ALL.iter().copied().find(|p| p.as_str() == raw)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a principal was granted: everything, or a list of permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    All,
    Only(Vec<Permission>),
}

impl Grant {
    pub fn allows(&self, needed: Permission) -> bool {
        match self {
            Grant::All => true,
            Grant::Only(list) => list.contains(&needed),
        }
    }

    /// The stored form: `["*"]` or the permission names.
    pub fn to_names(&self) -> Vec<String> {
        match self {
            Grant::All => vec!["*".to_string()],
            Grant::Only(list) => list.iter().map(|p| p.as_str().to_string()).collect(),
        }
    }

    /// Reads the stored form; unknown names (from a newer version) grant nothing.
    pub fn from_names(names: &[String]) -> Grant {
        if names.iter().any(|n| n == "*") {
            return Grant::All;
        }
        Grant::Only(names.iter().filter_map(|n| Permission::parse(n)).collect())
    }
}
