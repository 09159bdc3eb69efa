//! Named permissions that guard admin routes, and the built-in staff roles that bundle them.
//!
//! A principal (a staff member through their role, or an API key) holds a set of permissions; `*`
//! grants all. Nobody can hand out more than they hold: a role, invitation or key may only carry
//! permissions its creator has, and only a holder of `*` can grant `*` (see [`Grant::covers`]).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares the permissions once: variant, stored name, and whether it only reads.
macro_rules! permissions {
    ($($variant:ident => $name:literal, $read:literal;)*) => {
        /// One thing a principal may do, written `area:action` (`products:write`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Permission {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Permission::$variant => $name,)*
                }
            }

            /// Whether the permission only lets its holder look (`…:read`).
            pub fn is_read(&self) -> bool {
                match self {
                    $(Permission::$variant => $read,)*
                }
            }
        }
    };
}

permissions! {
    ProductsRead => "products:read", true;
    ProductsWrite => "products:write", false;
    InventoryRead => "inventory:read", true;
    InventoryWrite => "inventory:write", false;
    OrdersRead => "orders:read", true;
    OrdersWrite => "orders:write", false;
    CustomersRead => "customers:read", true;
    CustomersWrite => "customers:write", false;
    PromotionsRead => "promotions:read", true;
    PromotionsWrite => "promotions:write", false;
    SettingsRead => "settings:read", true;
    SettingsWrite => "settings:write", false;
    StaffRead => "staff:read", true;
    StaffWrite => "staff:write", false;
    AuditRead => "audit:read", true;
    JobsRead => "jobs:read", true;
    JobsWrite => "jobs:write", false;
    WebhooksRead => "webhooks:read", true;
    WebhooksWrite => "webhooks:write", false;
}

impl Permission {
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
    /// Every permission, as a list (what `*` means today).
    pub fn everything() -> Grant {
        Grant::Only(Permission::ALL.to_vec())
    }

    /// Whether a holder of `self` may grant `other` to someone else: never more than it has.
    pub fn covers(&self, other: &Grant) -> bool {
        match (self, other) {
            (Grant::All, _) => true,
            (Grant::Only(_), Grant::All) => false,
            (Grant::Only(_), Grant::Only(list)) => list.iter().all(|p| self.allows(*p)),
        }
    }

    /// The permissions held, expanded.
    pub fn permissions(&self) -> Vec<Permission> {
        match self {
            Grant::All => Permission::ALL.to_vec(),
            Grant::Only(list) => list.clone(),
        }
    }

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

/// The roles every installation has. Their permissions live in code, so a permission added by a
/// later version reaches them without a data migration; custom roles are stored rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinRole {
    Owner,
    Admin,
    CatalogManager,
    OrderManager,
    Support,
    ReadOnly,
}

impl BuiltinRole {
    pub const ALL: &'static [BuiltinRole] = &[
        BuiltinRole::Owner,
        BuiltinRole::Admin,
        BuiltinRole::CatalogManager,
        BuiltinRole::OrderManager,
        BuiltinRole::Support,
        BuiltinRole::ReadOnly,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            BuiltinRole::Owner => "owner",
            BuiltinRole::Admin => "admin",
            BuiltinRole::CatalogManager => "catalog_manager",
            BuiltinRole::OrderManager => "order_manager",
            BuiltinRole::Support => "support",
            BuiltinRole::ReadOnly => "read_only",
        }
    }

    pub fn parse(name: &str) -> Option<BuiltinRole> {
        BuiltinRole::ALL.iter().copied().find(|r| r.name() == name)
    }

    pub fn description(&self) -> &'static str {
        match self {
            BuiltinRole::Owner => "Everything, including granting ownership",
            BuiltinRole::Admin => "Every permission, listed; cannot make owners",
            BuiltinRole::CatalogManager => "Products, categories, collections and inventory",
            BuiltinRole::OrderManager => "Orders and fulfilment; reads customers, products and stock",
            BuiltinRole::Support => "Customers; reads orders and products",
            BuiltinRole::ReadOnly => "Looks at everything, changes nothing",
        }
    }

    pub fn grant(&self) -> Grant {
        use Permission as P;
        match self {
            BuiltinRole::Owner => Grant::All,
            BuiltinRole::Admin => Grant::everything(),
            BuiltinRole::CatalogManager => Grant::Only(vec![
                P::ProductsRead,
                P::ProductsWrite,
                P::InventoryRead,
                P::InventoryWrite,
                P::PromotionsRead,
            ]),
            BuiltinRole::OrderManager => {
                Grant::Only(vec![P::OrdersRead, P::OrdersWrite, P::CustomersRead, P::ProductsRead, P::InventoryRead])
            }
            BuiltinRole::Support => {
                Grant::Only(vec![P::CustomersRead, P::CustomersWrite, P::OrdersRead, P::ProductsRead])
            }
            BuiltinRole::ReadOnly => Grant::Only(Permission::ALL.iter().copied().filter(|p| p.is_read()).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_covers_only_its_own_permissions() {
        let catalog = BuiltinRole::CatalogManager.grant();
        assert!(catalog.covers(&Grant::Only(vec![Permission::ProductsRead])));
        assert!(!catalog.covers(&Grant::Only(vec![Permission::OrdersRead])));
        assert!(!BuiltinRole::Admin.grant().covers(&Grant::All), "only `*` grants `*`");
        assert!(Grant::All.covers(&Grant::All));
    }

    #[test]
    fn read_only_reads_everything_and_writes_nothing() {
        let grant = BuiltinRole::ReadOnly.grant();
        for p in Permission::ALL {
            assert_eq!(grant.allows(*p), p.as_str().ends_with(":read"), "{p}");
        }
    }

    #[test]
    fn names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
        }
        for r in BuiltinRole::ALL {
            assert_eq!(BuiltinRole::parse(r.name()), Some(*r));
        }
    }
}
