//! Typed identifiers: a readable prefix plus a time-ordered UUIDv7, e.g. `prod_01jdq3k1v9e8g4t5r6y7u8i9o0`.
//!
//! The UUID is written in 26 characters of lower-case Crockford base32 (the TypeID layout), so ids
//! sort by creation time as plain strings and a stray `var_…` can never be taken for a product id.
//! Each id type only parses from its own prefix.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Why a string is not an id of the expected kind.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("expected an id of the form {prefix}_ followed by 26 base32 characters")]
pub struct InvalidId {
    pub prefix: &'static str,
}

fn encode(uuid: Uuid) -> String {
    let value = uuid.as_u128();
    // 26 characters × 5 bits = 130 bits: the first character carries only the top 3 bits.
    (0..26)
        .map(|i| {
            let shift = 125 - i * 5;
            ALPHABET[((value >> shift) & 0x1f) as usize] as char
        })
        .collect()
}

fn decode(text: &str) -> Option<Uuid> {
    let bytes = text.as_bytes();
    if bytes.len() != 26 || bytes[0] > b'7' {
        return None;
    }
    let mut value: u128 = 0;
    for &b in bytes {
        let digit = ALPHABET.iter().position(|&a| a == b)? as u128;
        value = (value << 5) | digit;
    }
    Some(Uuid::from_u128(value))
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn uuid(&self) -> Uuid {
                self.0
            }

            pub fn parse(text: &str) -> Result<Self, InvalidId> {
                text.strip_prefix(concat!($prefix, "_"))
                    .and_then(decode)
                    .map(Self)
                    .ok_or(InvalidId { prefix: $prefix })
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "_[0-7][0-9a-hjkmnp-tv-z]{25}$")))
                    .examples([serde_json::json!(concat!($prefix, "_01jdq3k1v9e8g4t5r6y7wxyz00"))])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        // GraphQL sees every typed id as the standard `ID` scalar (its text form).
        impl async_graphql::OutputType for $name {
            fn type_name() -> std::borrow::Cow<'static, str> {
                <async_graphql::ID as async_graphql::OutputType>::type_name()
            }

            fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
                <async_graphql::ID as async_graphql::OutputType>::create_type_info(registry)
            }

            async fn resolve(
                &self,
                _: &async_graphql::ContextSelectionSet<'_>,
                _: &async_graphql::Positioned<async_graphql::parser::types::Field>,
            ) -> async_graphql::ServerResult<async_graphql::Value> {
                Ok(async_graphql::Value::String(self.to_string()))
            }
        }

        impl async_graphql::InputType for $name {
            type RawValueType = Self;

            fn type_name() -> std::borrow::Cow<'static, str> {
                <async_graphql::ID as async_graphql::InputType>::type_name()
            }

            fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
                <async_graphql::ID as async_graphql::InputType>::create_type_info(registry)
            }

            fn parse(value: Option<async_graphql::Value>) -> async_graphql::InputValueResult<Self> {
                match value {
                    Some(async_graphql::Value::String(text)) => {
                        Self::parse(&text).map_err(async_graphql::InputValueError::custom)
                    }
                    other => Err(async_graphql::InputValueError::expected_type(other.unwrap_or_default())),
                }
            }

            fn to_value(&self) -> async_graphql::Value {
                async_graphql::Value::String(self.to_string())
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }
        }
    };
}

typed_id!(
    /// A product.
    ProductId,
    "prod"
);
typed_id!(
    /// A product variant: the thing with a SKU and a price.
    VariantId,
    "var"
);
typed_id!(
    /// A product option such as "Size".
    OptionId,
    "opt"
);
typed_id!(
    /// A product image.
    ImageId,
    "img"
);
typed_id!(
    /// A node of the category tree.
    CategoryId,
    "pcat"
);
typed_id!(
    /// A curated collection of products.
    CollectionId,
    "pcol"
);
typed_id!(
    /// A stock location (warehouse, store).
    StockLocationId,
    "sloc"
);
typed_id!(
    /// An admin API key.
    ApiKeyId,
    "key"
);
typed_id!(
    /// A background job.
    JobId,
    "job"
);
typed_id!(
    /// A domain event.
    EventId,
    "evt"
);
typed_id!(
    /// A webhook endpoint.
    WebhookId,
    "wh"
);
typed_id!(
    /// One event's delivery to one webhook endpoint.
    DeliveryId,
    "whd"
);
typed_id!(
    /// One attempt of a webhook delivery.
    AttemptId,
    "wha"
);

typed_id!(
    /// A shopper's account.
    CustomerId,
    "cus"
);
typed_id!(
    /// An address in a customer's address book.
    AddressId,
    "addr"
);
typed_id!(
    /// A staff member's account.
    StaffId,
    "usr"
);
typed_id!(
    /// A signed-in session (customer or staff): an access token and its refresh token.
    SessionId,
    "sess"
);
typed_id!(
    /// An entry of the staff audit log.
    AuditId,
    "aud"
);
typed_id!(
    /// A region (market): currency, countries, tax setting, serving stock locations.
    RegionId,
    "reg"
);
typed_id!(
    /// A stock reservation held by a cart or an order.
    ReservationId,
    "rsv"
);
typed_id!(
    /// One change of a stock level, in the movement log.
    MovementId,
    "mov"
);
typed_id!(
    /// A cart. Made with [`CartId::unguessable`]: 122 random bits, since an anonymous cart is
    /// reachable by its id alone.
    CartId,
    "cart"
);
typed_id!(
    /// A line of a cart.
    CartLineId,
    "cali"
);
typed_id!(
    /// A shipping option of a region.
    ShippingOptionId,
    "shopt"
);
typed_id!(
    /// A tax rate for a country (and maybe a province or product tax class) of a region.
    TaxRateId,
    "txr"
);
typed_id!(
    /// An invitation for a new staff member.
    InvitationId,
    "inv"
);
typed_id!(
    /// A group of customers (wholesale, VIP) that price lists and promotions can target.
    CustomerGroupId,
    "cgrp"
);
typed_id!(
    /// A price list: sale or group prices that override base prices while it runs.
    PriceListId,
    "plist"
);
typed_id!(
    /// A promotion: a discount by code or automatic.
    PromotionId,
    "promo"
);
typed_id!(
    /// An order.
    OrderId,
    "order"
);
typed_id!(
    /// A line of an order.
    OrderLineId,
    "ordl"
);
typed_id!(
    /// A payment of an order, through a provider.
    PaymentId,
    "pay"
);
typed_id!(
    /// One checkout attempt (the saga's log entry).
    CheckoutId,
    "chk"
);
typed_id!(
    /// A shipment of (part of) an order.
    FulfillmentId,
    "ful"
);
typed_id!(
    /// Money given back on an order.
    RefundId,
    "ref"
);
typed_id!(
    /// Units of an order sent back.
    ReturnId,
    "ret"
);

impl CartId {
    /// A cart id from a random (version 4) UUID: 122 random bits, not time-ordered.
    pub fn unguessable() -> CartId {
        CartId::from_uuid(Uuid::new_v4())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn has_a_readable_prefix_and_fixed_length() {
        let id = ProductId::new().to_string();
        assert!(id.starts_with("prod_"));
        assert_eq!(id.len(), "prod_".len() + 26);
    }

    #[test]
    fn refuses_another_kinds_prefix() {
        let variant = VariantId::new().to_string();
        assert!(ProductId::parse(&variant).is_err());
        assert!(ProductId::parse("prod_short").is_err());
        assert!(ProductId::parse("prod_8zzzzzzzzzzzzzzzzzzzzzzzzz").is_err(), "131st bit set");
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        // uuid's v7 generator keeps a counter, so ids made in the same millisecond still ascend.
        let ids: Vec<String> = (0..1000).map(|_| ProductId::new().to_string()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    proptest! {
        #[test]
        fn round_trips_every_uuid(raw in any::<u128>()) {
            let id = ProductId::from_uuid(Uuid::from_u128(raw));
            prop_assert_eq!(ProductId::parse(&id.to_string()).unwrap(), id);
        }
    }
}
