//! One file per resource; each handler is thin: extract, call the store or
//! planner, shape the response.

pub mod audit;
pub mod events;
pub mod health;
pub mod jobs;
pub mod logs;
pub mod statistics;
pub mod validation;
pub mod webhooks;
pub mod workers;

use freight_core::store::MAX_PAGE_SIZE;

use crate::error::ApiError;

/// The decoded `cursor` of a list request: a token the server did not make
/// is a 400 (`decode` answers `None`), never a silently restarted list.
pub(crate) fn decode_cursor<T>(
    raw: Option<&str>,
    decode: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    raw.map(|cursor| decode(cursor).ok_or_else(|| ApiError::BadRequest("invalid cursor".into())))
        .transpose()
}

/// A list response: one page of items, the cursor of the next page, and
/// (for jobs and batches) the total across pages. The named struct per list
/// keeps the spec's schema names; the shape and its filling are written
/// here once.
macro_rules! list_page {
    ($(#[$doc:meta])* $name:ident of $item:ty, items: $items:literal $(, total: $total:literal)?) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            #[doc = $items]
            pub items: Vec<$item>,
            /// Pass as `cursor` to get the next page.
            pub next_cursor: Option<String>,
            /// Whether more pages follow.
            pub has_more: bool,
            $(
                #[doc = $total]
                pub total: i64,
            )?
        }

        impl From<freight_core::store::Page<$item>> for $name {
            fn from(page: freight_core::store::Page<$item>) -> Self {
                Self {
                    has_more: page.next_cursor.is_some(),
                    $(total: {
                        let _counted: &str = $total;
                        page.total.unwrap_or_default()
                    },)?
                    next_cursor: page.next_cursor,
                    items: page.items,
                }
            }
        }
    };
}
pub(crate) use list_page;

/// The `limit` of a list request, checked: 1-1000, or the store's default
/// page size (0) when omitted. A value out of range is a 422 naming `limit`,
/// never silently clamped, so the spec's `minimum`/`maximum` are the truth.
pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(0),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(_) => Err(freight_core::ValidationError::single(
            "limit",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        )
        .into()),
    }
}
